import { request } from 'node:http';
import { type Clock, type FunctionResource, splitVersionRoute } from '@nimbus/api';
import type { EndpointAddress, FunctionRoute } from '../routing/route-table.js';
import type { Waker } from '../routing/waker.js';
import type { EarlyEndpoints } from './early-endpoints.js';
import { readinessPathOf } from './function-route.js';

/** How often a starting replica is probed while requests wait for it. */
export const PROBE_EVERY_MS = 20;
/** One probe's bound: a replica on the pod network answers in a millisecond or two, or refuses. */
export const PROBE_TIMEOUT_MS = 250;

/** Answers whether `GET http://host:port{path}` says ready (200-399, as the kubelet reads it). */
export type ReadyCheck = (host: string, port: number, path: string, timeoutMs: number) => Promise<boolean>;

/** The routes, as far as the prober reads them. */
export interface ProbedRoutes {
  get(namespace: string, name: string): FunctionRoute | undefined;
}

/** The replicas of each function that its EndpointSlices list as starting, and word when they change. */
export interface StartingReplicas {
  startingOf(namespace: string, name: string): EndpointAddress[];
  onChange(listener: (namespace: string, name: string) => void): void;
}

/** The Functions, for the readiness path of their pods. */
export interface ProbedFunctions {
  get(namespace: string, name: string): FunctionResource | undefined;
}

interface Watch {
  readonly route: FunctionRoute;
  readonly deadline: number;
  /** Ids of replicas with a probe in flight: one at a time each. */
  readonly probing: Set<string>;
  timer: unknown;
}

/**
 * Probes new pods from the gateway, as Knative's activator does: while a function has held
 * requests, each replica its EndpointSlices list with an address but not ready yet is asked its
 * readiness path every PROBE_EVERY_MS, and the first ready answer makes it a provisional
 * endpoint (EarlyEndpoints), so the held requests go at once rather than after the kubelet's
 * next probe (a period of a second) and the slice update that follows it. The probing of a
 * function stops when it has no held requests, no replica left to probe (a slice change starts it
 * again), or at the wake timeout. Wakes and slice changes start it; the invoke path never sees it.
 */
export class NewPodProber implements Waker {
  private readonly watches = new Map<string, Watch>();

  constructor(
    private readonly routes: ProbedRoutes,
    private readonly replicas: StartingReplicas,
    private readonly functions: ProbedFunctions,
    private readonly early: Pick<EarlyEndpoints, 'offer'>,
    private readonly clock: Clock,
    private readonly wakeTimeoutMs: number,
    private readonly check: ReadyCheck = httpReady,
  ) {
    replicas.onChange((namespace, name) => {
      const route = routes.get(namespace, name);
      if (route !== undefined && route.held.size > 0) this.watch(route);
    });
  }

  /** A request was held for the route: probe its starting replicas, if it has any. */
  wake(route: FunctionRoute): void {
    this.watch(route);
  }

  /** Stops every probe loop (probes in flight end on their own timeout). */
  close(): void {
    for (const watch of this.watches.values()) this.clock.clearTimeout(watch.timer);
    this.watches.clear();
  }

  private watch(route: FunctionRoute): void {
    if (this.watches.has(route.key)) return;
    const watch: Watch = {
      route,
      deadline: this.clock.now() + this.wakeTimeoutMs,
      probing: new Set(),
      timer: undefined,
    };
    this.watches.set(route.key, watch);
    this.tick(watch);
  }

  private tick(watch: Watch): void {
    const { route } = watch;
    // A version route (`fn@v2`) probes the path the Function's current spec names; an older
    // version's pods that answer elsewhere fail the probe and wait for their kubelet instead.
    const fn = this.functions.get(route.namespace, splitVersionRoute(route.name)?.functionName ?? route.name);
    const path = fn === undefined ? undefined : readinessPathOf(fn);
    const starting =
      path === undefined || !path.startsWith('/')
        ? []
        : this.replicas.startingOf(route.namespace, route.name);
    const done =
      route.held.size === 0 ||
      this.clock.now() >= watch.deadline ||
      this.routes.get(route.namespace, route.name) !== route ||
      (starting.length === 0 && watch.probing.size === 0);
    if (done) {
      this.watches.delete(route.key);
      return;
    }
    for (const replica of starting)
      if (path !== undefined && !watch.probing.has(replica.id)) this.probe(watch, replica, path);
    watch.timer = this.clock.setTimeout(() => this.tick(watch), PROBE_EVERY_MS);
  }

  private probe(watch: Watch, replica: EndpointAddress, path: string): void {
    const { route } = watch;
    watch.probing.add(replica.id);
    void this.check(replica.host, replica.port, path, PROBE_TIMEOUT_MS)
      .catch(() => false)
      .then((ready) => {
        watch.probing.delete(replica.id);
        // A pod its slice dropped meanwhile (deleted, or terminating) is not offered.
        const listed = this.replicas.startingOf(route.namespace, route.name).some((r) => r.id === replica.id);
        if (ready && listed) this.early.offer(route, replica.host, replica.port, 'probe');
      });
  }
}

/** The kubelet's httpGet check, on a fresh connection: 200-399 is ready; anything else, or no answer, is not. */
export function httpReady(host: string, port: number, path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host, port, path, method: 'GET', agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(status >= 200 && status < 400);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}
