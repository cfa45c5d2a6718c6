import type { StateEntry } from '../contract.js';
import type { StatePort } from './function-state.js';
import { InternalClient } from './internal-client.js';
import type { StateSettings } from './state-config.js';
import {
  InvalidStateValueError,
  RemoteStateError,
  type StateErrorInfo,
  StateUnavailableError,
  StateValueTooLargeError,
} from './state-errors.js';
import { checkStateValue } from './state-value.js';

export type ServiceStateSettings = Extract<StateSettings, { backend: 'service' }>;

/**
 * ctx.state in a cluster: each call is one POST to the gateway's state service, with the
 * function's name and token, on kept-alive connections (node:http rather than fetch: about half
 * the time per call), so a call costs one round trip. The value is checked here too (plain JSON, and its size), so a value the service would
 * refuse is not uploaded; the service checks again and is the one that counts.
 */
export class ServiceStatePort implements StatePort {
  private readonly inFlight = new Set<AbortController>();
  private readonly client: InternalClient;

  constructor(
    private readonly settings: ServiceStateSettings,
    namespace: string,
    fn: string,
  ) {
    this.client = new InternalClient(
      settings,
      namespace,
      fn,
      (tokenFile, error) =>
        new StateUnavailableError(
          `cannot read the state token from NIMBUS_STATE_TOKEN_FILE (${tokenFile}): ${error.message}`,
          { cause: error },
        ),
    );
  }

  async get(key: string): Promise<StateEntry | undefined> {
    return (await this.call('get', { key })) as StateEntry | undefined;
  }

  async set(key: string, value: unknown, options: { ttlMs?: number } = {}): Promise<string> {
    return (await this.call('set', { key, value: this.checkValue(key, value), ...ttl(options) })) as string;
  }

  async delete(key: string): Promise<boolean> {
    return (await this.call('delete', { key })) as boolean;
  }

  async incr(key: string, by = 1): Promise<number> {
    return (await this.call('incr', { key, by })) as number;
  }

  async compareAndSet(
    key: string,
    expectedVersion: string | null,
    value: unknown,
    options: { ttlMs?: number } = {},
  ): Promise<{ ok: true; version: string } | { ok: false; currentVersion: string | null }> {
    const body = { key, expectedVersion, value: this.checkValue(key, value), ...ttl(options) };
    return (await this.call('compareAndSet', body)) as
      | { ok: true; version: string }
      | { ok: false; currentVersion: string | null };
  }

  /** Fails the calls still waiting: the process is going away. */
  async close(): Promise<void> {
    for (const controller of this.inFlight) controller.abort(new ShuttingDown());
    this.client.close();
  }

  private async call(op: string, body: Record<string, unknown>): Promise<unknown> {
    const token = await this.client.readToken();
    // JSON text built before the request: undefined members dropped by stringify were refused above.
    const text = JSON.stringify(body);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.settings.timeoutMs);
    this.inFlight.add(controller);
    let response: { status: number; text: string };
    try {
      response = await this.client.post(`/v1/state/${op}`, token, text, controller.signal);
    } catch (error) {
      // Aborted by the timer (no reason given) or by close (the reason says why).
      const why = !controller.signal.aborted
        ? (error as Error).message
        : controller.signal.reason instanceof ShuttingDown
          ? controller.signal.reason.message
          : `no answer within ${this.settings.timeoutMs} ms`;
      throw new StateUnavailableError(`state ${op}: the state service is unavailable (${why})`, {
        cause: error,
      });
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(controller);
    }
    let parsed: { result?: unknown; error?: unknown; code?: unknown; limit?: unknown };
    try {
      parsed = JSON.parse(response.text) as typeof parsed;
    } catch {
      throw new StateUnavailableError(
        `state ${op}: the state service answered ${response.status} without JSON`,
      );
    }
    if (response.status >= 200 && response.status < 300) return parsed.result;
    throw new RemoteStateError({
      name: typeof parsed.code === 'string' ? parsed.code : 'Error',
      message:
        typeof parsed.error === 'string' ? parsed.error : `the state service answered ${response.status}`,
      ...(typeof parsed.limit === 'number' ? { limit: parsed.limit } : {}),
    });
  }

  private checkValue(key: string, value: unknown): unknown {
    checkStateValue(key, value, this.settings.maxValueBytes);
    return value;
  }
}

/** Why close() aborts a call: not the timeout's doing, so not reported as one. */
class ShuttingDown extends Error {
  constructor() {
    super('the runtime is shutting down');
  }
}

function ttl(options: { ttlMs?: number }): { ttlMs?: number } {
  return options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs };
}
