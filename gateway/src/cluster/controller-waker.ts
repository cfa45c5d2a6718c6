import { Agent, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Logger } from '@nimbus/api';
import { Counter, type Registry, Summary } from 'prom-client';
import type { FunctionRoute } from '../routing/route-table.js';
import type { WakeTrace, Waker } from '../routing/waker.js';
import type { ControllerPeers } from './controller-peers.js';
import type { EarlyEndpoints } from './early-endpoints.js';
import { wakeEndpointOf } from './wake-answer.js';

/** Wakes in flight to one controller at once. */
const WAKE_SOCKETS = 256;

/** Where a wake ended: the leader raised the replicas, found them enough already, or nobody acted. */
export type WakeResult = 'raised' | 'unchanged' | 'not-found' | 'no-leader';

/**
 * Wakes a function in a cluster: a request is held for it, so every controller replica gets
 * `POST /v1/wake` at once. The leader answers 200 once the Deployment's raised scale is written;
 * the others answer 409. One wake per function is in flight at a time; requests held meanwhile
 * ride on it. Should no controller act (no leader at this moment, the API server away), the held
 * requests still show in this gateway's next concurrency report, and the leader's next tick wakes
 * the function from them: a wake is the fast path, never the only one.
 */
export class ControllerWaker implements Waker {
  private readonly inFlight = new Set<string>();
  private readonly wakes: Counter<'result'>;
  private readonly seconds: Summary;
  private warned = false;
  // Kept-alive connections to each controller: a wake is latency-bound, and a new connection
  // per wake would add its handshake to every cold start. A wake is in flight until the leader
  // has raised the scale (and taken a pool pod over), so a burst of functions woken at once needs
  // a connection each: with 8, a hundred wakes queued behind one another for 20 s. At most one
  // wake per function is in flight, so the functions at zero bound them; WAKE_SOCKETS bounds the rest.
  private readonly agent = new Agent({ keepAlive: true, maxSockets: WAKE_SOCKETS, maxFreeSockets: 8 });

  constructor(
    private readonly peers: ControllerPeers,
    private readonly token: string | undefined,
    private readonly timeoutMs: number,
    registry: Registry,
    private readonly log: Logger,
    private readonly early: Pick<EarlyEndpoints, 'offer'> | undefined = undefined,
  ) {
    this.wakes = new Counter({
      name: 'nimbus_gateway_wakes_total',
      help: 'Wakes this gateway sent the controllers for functions without a ready replica, by result.',
      labelNames: ['result'],
      registers: [registry],
    });
    this.seconds = new Summary({
      name: 'nimbus_gateway_wake_seconds',
      help: "From sending a wake to the leader's answer that the function's Deployment asks for more replicas (from zero with a warm pool, and that a pool pod has loaded the function).",
      percentiles: [0.5, 0.9, 0.99],
      maxAgeSeconds: 600,
      ageBuckets: 5,
      registers: [registry],
    });
  }

  wake(route: FunctionRoute, trace?: WakeTrace): void {
    if (this.inFlight.has(route.key) || !this.peers.configured) return;
    this.inFlight.add(route.key);
    void this.send(route, trace).finally(() => this.inFlight.delete(route.key));
  }

  /**
   * Sends one wake to every controller; resolves with what the leader did. Traced, the wake is a
   * step of the held request's trace, and the controllers' spans hang under it.
   */
  async send(route: FunctionRoute, trace?: WakeTrace): Promise<WakeResult> {
    const started = performance.now();
    const body = JSON.stringify({ function: route.key, held: route.held.size });
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    const step = trace?.step('wake', { 'nimbus.function': route.key }, headers);
    const result = await this.sendAll(route, started, headers, body);
    step?.set('nimbus.wake.result', result);
    step?.end(result === 'no-leader' ? 'no controller acted on the wake' : undefined);
    return result;
  }

  private async sendAll(
    route: FunctionRoute,
    started: number,
    headers: Record<string, string>,
    body: string,
  ): Promise<WakeResult> {
    const urls = await this.peers.urls();
    const answers = await Promise.allSettled(
      urls.map(async (url) => {
        const [status, answer] = await this.post(`${url}/v1/wake`, headers, body);
        if (status === 200) {
          this.takeEndpoint(route, answer);
          const raised = (answer as { outcome?: string }).outcome === 'raised';
          if (raised) this.seconds.observe((performance.now() - started) / 1000);
          return raised ? 'raised' : 'unchanged';
        }
        if (status === 404) return 'not-found';
        if (status === 409) return 'no-leader';
        throw new Error(`${url}/v1/wake answered ${status}`);
      }),
    );
    const results = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
    const result: WakeResult =
      (['raised', 'unchanged', 'not-found'] as const).find((r) => results.includes(r)) ?? 'no-leader';
    this.wakes.inc({ result });
    if (result === 'no-leader' && !this.warned) {
      const failure = answers.find((a): a is PromiseRejectedResult => a.status === 'rejected');
      this.log.warn('no controller acted on a wake; the next concurrency report wakes the function', {
        function: route.key,
        controllers: urls.length,
        err: failure?.reason,
      });
    }
    this.warned = result === 'no-leader';
    this.log.debug('woke', { function: route.key, result, ms: performance.now() - started });
    return result;
  }

  /** A pool pod the leader's answer names, when it names one that passes the checks. */
  private takeEndpoint(route: FunctionRoute, answer: unknown): void {
    const endpoint = wakeEndpointOf(answer);
    if (endpoint === undefined || this.early === undefined) return;
    if ('invalid' in endpoint)
      this.log.debug('ignored the endpoint a wake answer named', {
        function: route.key,
        why: endpoint.invalid,
      });
    else this.early.offer(route, endpoint.host, endpoint.port, 'wake');
  }

  close(): void {
    this.agent.destroy();
  }

  private post(url: string, headers: Record<string, string>, body: string): Promise<[number, unknown]> {
    return new Promise((resolve, reject) => {
      const plain = url.startsWith('http:');
      const req = (plain ? httpRequest : httpsRequest)(
        url,
        { method: 'POST', agent: plain ? this.agent : undefined, headers, timeout: this.timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            let answer: unknown = {};
            try {
              answer = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              // Not JSON: the status alone decides.
            }
            resolve([res.statusCode ?? 0, answer]);
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${url}: no answer within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}
