import { BadRequestError } from '../http/http-errors.js';

/** `application/json; charset=utf-8` → `application/json`. */
export function mediaType(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const type = contentType.split(';', 1)[0]?.trim().toLowerCase();
  return type === '' ? undefined : type;
}

/** application/json and any structured-syntax `+json` type (e.g. application/cloudevents+json). */
export function isJsonType(type: string | undefined): boolean {
  return type !== undefined && (type === 'application/json' || /^[^/]+\/[^;]+\+json$/.test(type));
}

export function isTextType(type: string | undefined): boolean {
  return type !== undefined && (type.startsWith('text/') || type === 'application/x-www-form-urlencoded');
}

/**
 * The handler-facing body: parsed JSON for JSON types, a string for text and forms, the bytes
 * otherwise, undefined when there are none. Throws a 400 for a JSON type that does not parse.
 */
export function parseBody(rawBody: Buffer, contentType: string | undefined): unknown {
  if (rawBody.length === 0) return undefined;
  const type = mediaType(contentType);
  if (isJsonType(type)) {
    try {
      return JSON.parse(rawBody.toString('utf8'));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new BadRequestError(`request body is not valid JSON: ${reason}`, {}, { cause: error });
    }
  }
  if (isTextType(type)) return rawBody.toString('utf8');
  return rawBody;
}
