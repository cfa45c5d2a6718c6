import { send } from '@nimbus/testkit';

/** A request of steady traffic that did not get a 2xx: what it got, and when. */
export interface FailedRequest {
  at: number;
  status: number;
  text: string;
}

export interface TrafficReport {
  total: number;
  failures: FailedRequest[];
  /** The bodies of the 2xx answers in the order they arrived, for what served them. */
  bodies: string[];
}

export interface TrafficOptions {
  /** Callers at once, each sending its next request when the last is answered. */
  concurrency: number;
  /** Each caller's pause between an answer and its next request. */
  pauseMs?: number;
  /** Bounds the whole run, whatever the test does: requests in all… */
  maxRequests: number;
  /** …and time from the start. */
  maxMs: number;
  /** One request's timeout: longer counts as a failure (status 0). */
  timeoutMs?: number;
}

/**
 * Steady traffic to one URL from this machine, as callers of a service would send it, counting
 * every answer that is not a 2xx (a refused connection or a timeout is status 0). Bounded in
 * requests and time.
 */
export class SteadyTraffic {
  private readonly failures: FailedRequest[] = [];
  private readonly bodies: string[] = [];
  private total = 0;
  private stopped = false;
  private readonly started = Date.now();
  private readonly callers: Promise<void>[];

  constructor(
    private readonly baseUrl: string,
    private readonly path: string,
    private readonly options: TrafficOptions,
  ) {
    this.callers = Array.from({ length: options.concurrency }, () => this.caller());
  }

  /** Requests answered so far, failed or not. */
  get sent(): number {
    return this.total;
  }

  /** The last 2xx body, if any. */
  get lastBody(): string | undefined {
    return this.bodies.at(-1);
  }

  /** Stops sending, waits for the requests in flight, and reports. */
  async stop(): Promise<TrafficReport> {
    this.stopped = true;
    await Promise.all(this.callers);
    return { total: this.total, failures: [...this.failures], bodies: [...this.bodies] };
  }

  private bounded(): boolean {
    return (
      !this.stopped && this.total < this.options.maxRequests && Date.now() - this.started < this.options.maxMs
    );
  }

  private async caller(): Promise<void> {
    while (this.bounded()) {
      const reply = await send(this.baseUrl, this.path, {
        timeoutMs: this.options.timeoutMs ?? 10_000,
      }).then(
        (r) => ({ status: r.status, text: r.text }),
        (err: Error) => ({ status: 0, text: err.message }),
      );
      this.total++;
      if (reply.status >= 200 && reply.status < 300) this.bodies.push(reply.text);
      else this.failures.push({ at: Date.now() - this.started, status: reply.status, text: reply.text });
      if (this.options.pauseMs) await new Promise((r) => setTimeout(r, this.options.pauseMs));
    }
  }
}
