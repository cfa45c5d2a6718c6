import type { Logger } from '@nimbus/api';
import { Agent } from 'undici';
import { type AsyncConfig, CALLBACK_RETRY_BASE_MS } from './async-config.js';

/** What a finished call's callback carries. */
export interface CallbackResult {
  readonly url: string;
  readonly callId: string;
  readonly outcome: 'succeeded' | 'failed';
  /** The function's status code, or the gateway's when no replica answered. */
  readonly functionStatus: number;
  readonly durationMs: number;
  readonly contentType: string | undefined;
  readonly body: Uint8Array;
}

/** Whether a receiver's answer is worth sending again: its own trouble, not a refusal of what we sent. */
const worthRetry = (status: number) => status === 408 || status === 429 || status >= 500;

/**
 * POSTs results to the callers' `X-Callback-Url`s, after the call is recorded and acknowledged, so
 * a failing receiver can never make the function run again. A few attempts with doubling waits
 * (NIMBUS_CALLBACK_ATTEMPTS, NIMBUS_CALLBACK_TIMEOUT_MS each), then it is given up and logged;
 * the record at GET /system/calls/{id} keeps the result either way.
 */
export class CallbackSender {
  private readonly agent: Agent;
  private readonly pending = new Set<Promise<void>>();
  private readonly timers = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();
  private closed = false;

  constructor(
    private readonly config: Pick<AsyncConfig, 'callbackAttempts' | 'callbackTimeoutMs'>,
    private readonly log: Logger,
  ) {
    this.agent = new Agent({ connections: 64 });
  }

  /** Sends in the background; never throws. */
  send(result: CallbackResult): void {
    if (this.closed) return;
    const sending = this.deliver(result).finally(() => this.pending.delete(sending));
    this.pending.add(sending);
  }

  private async deliver(result: CallbackResult): Promise<void> {
    const headers: Record<string, string> = {
      'x-call-id': result.callId,
      'x-call-status': result.outcome,
      'x-function-status': String(result.functionStatus),
      'x-duration-seconds': (result.durationMs / 1000).toFixed(6),
    };
    if (result.contentType !== undefined) headers['content-type'] = result.contentType;
    let last = '';
    for (let attempt = 1; attempt <= this.config.callbackAttempts; attempt++) {
      try {
        const response = await this.agent.request({
          origin: new URL(result.url).origin,
          path: pathOf(result.url),
          method: 'POST',
          headers,
          body: result.body,
          headersTimeout: this.config.callbackTimeoutMs,
          bodyTimeout: this.config.callbackTimeoutMs,
        });
        await response.body.dump();
        if (response.statusCode >= 200 && response.statusCode < 300) return;
        last = `the receiver answered ${response.statusCode}`;
        if (!worthRetry(response.statusCode)) break;
      } catch (err) {
        last = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      }
      if (
        attempt < this.config.callbackAttempts &&
        !(await this.pause(CALLBACK_RETRY_BASE_MS * 2 ** (attempt - 1)))
      )
        break;
    }
    this.log.warn('gave up on a callback; the result stays in the call record', {
      callId: result.callId,
      url: redact(result.url),
      error: last,
    });
  }

  /** False when closing cut the wait short. */
  private pause(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.timers.delete(entry);
          resolve(true);
        }, ms),
        wake: () => resolve(false),
      };
      this.timers.add(entry);
    });
  }

  /** Sends nothing more: waits for callbacks on the wire, drops the ones waiting for a retry. */
  async close(): Promise<void> {
    this.closed = true;
    for (const entry of this.timers) {
      clearTimeout(entry.timer);
      entry.wake();
    }
    this.timers.clear();
    await Promise.all([...this.pending]);
    await this.agent.close();
  }
}

function pathOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.pathname}${parsed.search}`;
}

/** The URL without credentials or query, for logs. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return 'an unparsable URL';
  }
}

/** An http(s) URL a callback can go to; anything else is refused when the call is accepted. */
export function isCallbackUrl(text: string): boolean {
  if (text.length > 2048 || /\s/.test(text)) return false;
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}
