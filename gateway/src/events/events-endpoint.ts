import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@nimbus/api';
import { Counter, type Registry } from 'prom-client';
import { type FunctionDirectory, declaredFunction } from '../ports.js';
import { Refusal, callingFunction, readJsonObject, sendJson } from '../state/internal-http.js';
import type { EventsConfig } from './events-config.js';
import { type FunctionEvents, type OutgoingEvent, PublishRefusedError } from './function-events.js';

/** Room in a body beside the data: the subject, type, content type and JSON's escapes. */
const BODY_OVERHEAD_BYTES = 4096;

/**
 * ctx.publish for function pods, on the gateway's internal port beside the state service and with
 * the same token: the function is who its token says, whatever the body claims, and the event
 * goes out as `nimbus://<namespace>/<function>`.
 *
 *   POST /v1/events/publish
 *   Authorization: Bearer <token>   X-Nimbus-Function: <namespace>/<name>
 *   {"subject": "orders.created", "data": {...}, "contentType"?: "...", "type"?: "..."}
 *   (or "dataBase64": "..." for bytes)
 *   202 {"id": "<ce-id>", "delivered": true | false}, or {"error": message, "code": name}
 */
export class EventsEndpoint {
  private readonly published: Counter<'result'>;

  constructor(
    private readonly config: EventsConfig,
    private readonly events: FunctionEvents,
    private readonly directory: FunctionDirectory,
    private readonly log: Logger,
    registry: Registry,
  ) {
    this.published = new Counter({
      name: 'nimbus_function_events_total',
      help: "Events functions published (ctx.publish) by result: delivered, undelivered (no trigger's stream takes the subject), or the refusal's code.",
      labelNames: ['result'],
      registers: [registry],
    });
  }

  /** `key`: the platform's key the function tokens are made with. */
  async handle(req: IncomingMessage, res: ServerResponse, key: string): Promise<void> {
    try {
      const path = new URL(req.url ?? '/', 'http://events').pathname;
      if (path !== '/v1/events/publish')
        throw new Refusal(404, 'NotFound', 'events are published with POST /v1/events/publish');
      if (req.method !== 'POST') throw new Refusal(405, 'MethodNotAllowed', 'publishing takes POST');
      const from = callingFunction(req, key);
      if (declaredFunction(this.directory, from.namespace, from.name) === undefined)
        throw new Refusal(403, 'UnknownFunction', `${from.namespace}/${from.name} is not a known function`);
      const body = await readJsonObject(req, this.config.maxDataBytes * 2 + BODY_OVERHEAD_BYTES, (size) =>
        tooLarge(`the request is ${size} bytes`, this.config.maxDataBytes),
      );
      const published = await this.events.publish(from, eventOf(body));
      this.published.inc({ result: published.delivered ? 'delivered' : 'undelivered' });
      sendJson(res, 202, published);
    } catch (err) {
      const refusal =
        err instanceof Refusal
          ? err
          : err instanceof PublishRefusedError
            ? new Refusal(err.status, err.code, err.message)
            : undefined;
      if (refusal === undefined) {
        this.log.warn('events endpoint: a publish failed', { err });
        this.published.inc({ result: 'error' });
        sendJson(res, 500, { error: 'publishing failed in the gateway; see its log', code: 'Error' });
        return;
      }
      this.published.inc({ result: refusal.code });
      sendJson(res, refusal.status, { error: refusal.message, code: refusal.code, ...refusal.extra });
    }
  }
}

function tooLarge(what: string, limit: number): Refusal {
  return new Refusal(
    413,
    'EventTooLarge',
    `the event is too large: ${what}, the data limit is ${limit} bytes`,
    {
      limit,
    },
  );
}

/** The event a body asks for; a PublishRefusedError (400) naming the field that is wrong. */
export function eventOf(body: Record<string, unknown>): OutgoingEvent {
  const { subject, data, dataBase64, contentType, type } = body;
  if (typeof subject !== 'string')
    throw new PublishRefusedError(400, 'InvalidSubject', 'subject must be a string');
  for (const [field, value] of [
    ['contentType', contentType],
    ['type', type],
  ] as const)
    if (value !== undefined && (typeof value !== 'string' || !/^[ -~]{1,255}$/.test(value)))
      throw new PublishRefusedError(
        400,
        'InvalidEvent',
        `${field} must be 1 to 255 printable ASCII characters`,
      );
  const given = contentType as string | undefined;
  const typed = type === undefined ? {} : { type: type as string };
  if (dataBase64 !== undefined) {
    if (data !== undefined)
      throw new PublishRefusedError(400, 'InvalidEvent', 'give data or dataBase64, not both');
    if (typeof dataBase64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(dataBase64))
      throw new PublishRefusedError(400, 'InvalidEvent', 'dataBase64 must be base64');
    const bytes = Buffer.from(dataBase64, 'base64');
    return { subject, data: bytes, contentType: given ?? 'application/octet-stream', ...typed };
  }
  // A string under a content type of its own (text/plain, XML ...) goes as it is; anything else as JSON.
  if (typeof data === 'string' && given !== undefined && !/json/i.test(given))
    return { subject, data: Buffer.from(data, 'utf8'), contentType: given, ...typed };
  return {
    subject,
    data: Buffer.from(JSON.stringify(data ?? null), 'utf8'),
    contentType: given ?? 'application/json',
    ...typed,
  };
}
