import { inject, injectable } from 'tsyringe';
import type { RuntimeConfig } from '../config.js';
import type { Headers, InvokeResponse } from '../contract.js';
import { TOKENS } from '../tokens.js';
import { CALL_ID_HEADER } from './invocation-id.js';
import { isJsonType, mediaType, parseBody } from './request-body.js';

/** The calling invocation, whose identity travels with the call. */
export interface CallerContext {
  readonly invocationId: string;
  readonly namespace: string;
  readonly traceparent: string | undefined;
  readonly signal: AbortSignal;
}

/** ctx.invoke's port: another function, called through the gateway. */
export interface FunctionInvoker {
  invoke(name: string, payload: unknown, caller: CallerContext): Promise<InvokeResponse>;
}

// `{name}` or `{name}.{namespace}`, as the gateway routes them.
const FUNCTION_REF = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)?$/;

/** POSTs the payload as JSON to `${NIMBUS_GATEWAY_URL}/function/{name}`. */
@injectable()
export class GatewayInvoker implements FunctionInvoker {
  constructor(@inject(TOKENS.Config) private readonly config: Pick<RuntimeConfig, 'gatewayUrl'>) {}

  async invoke(name: string, payload: unknown, caller: CallerContext): Promise<InvokeResponse> {
    const { gatewayUrl } = this.config;
    if (gatewayUrl === undefined) {
      throw new Error('ctx.invoke is unavailable: NIMBUS_GATEWAY_URL is not set for this runtime');
    }
    if (typeof name !== 'string' || !FUNCTION_REF.test(name)) {
      throw new Error(
        `ctx.invoke needs a function name like "name" or "name.namespace", got ${JSON.stringify(name)}`,
      );
    }
    // A bare name means a function in the caller's own namespace, not the gateway's default one.
    const target = name.includes('.') ? name : `${name}.${caller.namespace}`;
    const headers: Record<string, string> = { [CALL_ID_HEADER]: caller.invocationId };
    if (caller.traceparent !== undefined) headers.traceparent = caller.traceparent;
    let body: string | undefined;
    if (payload !== undefined) {
      body = JSON.stringify(payload);
      headers['content-type'] = 'application/json';
    }
    let response: Response;
    try {
      response = await fetch(`${gatewayUrl}/function/${target}`, {
        method: 'POST',
        headers,
        body,
        signal: caller.signal,
      });
    } catch (error) {
      throw new Error(
        `ctx.invoke of ${target} failed: ${error instanceof Error ? error.message : String(error)}`,
        {
          cause: error,
        },
      );
    }
    const raw = Buffer.from(await response.arrayBuffer());
    const responseHeaders: Record<string, string> = Object.fromEntries(response.headers);
    return {
      statusCode: response.status,
      headers: responseHeaders as Headers,
      body: decode(raw, responseHeaders),
    };
  }
}

/** Like a request body, except JSON that does not parse is handed back as text rather than thrown. */
function decode(raw: Buffer, headers: Record<string, string>): unknown {
  const contentType = headers['content-type'];
  try {
    return parseBody(raw, contentType);
  } catch {
    return isJsonType(mediaType(contentType)) ? raw.toString('utf8') : raw;
  }
}
