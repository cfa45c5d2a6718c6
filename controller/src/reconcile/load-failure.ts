import { request } from 'node:http';
import { type ErrorDetail, type FunctionResource, HANDLER_LOAD_FAILED, type Logger } from '@nimbus/api';
import type { KubeObject } from '@nimbus/kube';
import { SPEC_HASH_ANNOTATION } from '../resources/metadata.js';
import { ADOPTED_LABEL } from '../resources/metadata.js';
import type { FunctionPod, PodsOfFunction } from './function-pods.js';
import type { ObservedDeployment, Verdict } from './status.js';

/**
 * The condition that quotes a handler's load error. Ready cannot hold it: the gateway hands
 * Ready's message to callers while no replica is ready, and callers see load errors only with
 * NIMBUS_ERROR_DETAIL=full.
 */
export const LOADED_CONDITION = 'HandlerLoaded';
export const LOAD_FAILED = HANDLER_LOAD_FAILED;

/** What callers hear (through Ready's message) when the detail is not theirs to see. */
export const GENERIC_LOAD_FAILURE =
  'the handler failed to load; the HandlerLoaded condition, the Events and the pod log have the reason';

/** A condition's message stays readable in `kubectl describe`; a longer error is cut here. */
export const MESSAGE_LIMIT = 1024;
/** A larger /_/ready answer is not the runtime's: it is cut off and not read. */
const ANSWER_LIMIT = 16 * 1024;
const PORT = 8080;
export const PROBE_TIMEOUT_MS = 2000;
/** Between looks at a pod that is still loading (or not answering): doubling, to this at most. */
const RETRY_MS = [1000, 2000, 4000, 8000, 15_000, 30_000] as const;

export type PodView = FunctionPod;

/** What one pod's `GET /_/ready` came to. */
export interface ReadyAnswer {
  status: number;
  body: string;
}

/** Reads one pod's `/_/ready`; rejects when it does not answer within the timeout. */
export type ReadyProbe = (ip: string) => Promise<ReadyAnswer>;

/** Whether some of the replicas the Deployment wants (or runs, mid-rollout) are not ready. Pure. */
export function hasUnreadyReplicas(deployment: ObservedDeployment | undefined): boolean {
  if (deployment === undefined) return false;
  const wanted = deployment.spec?.replicas ?? 1;
  if (wanted === 0) return false;
  const s = deployment.status ?? {};
  return (s.readyReplicas ?? 0) < Math.max(wanted, s.replicas ?? 0);
}

/**
 * The pod to ask: one of the current revision (its spec hash is the Deployment template's) that
 * has an address and is not ready, the oldest first, as it has had the longest to load. Pods
 * taken over from the warm pool loaded before they were adopted, and a pod being deleted no
 * longer matters. Pure.
 */
export function podToAsk(pods: readonly PodView[], specHash: string | undefined): PodView | undefined {
  const candidates = pods.filter(
    (p) =>
      p.metadata.deletionTimestamp === undefined &&
      p.metadata.labels?.[ADOPTED_LABEL] !== 'true' &&
      p.status?.podIP !== undefined &&
      (specHash === undefined || p.metadata.annotations?.[SPEC_HASH_ANNOTATION] === specHash) &&
      p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') !== true,
  );
  const age = (p: PodView) => p.metadata.creationTimestamp ?? '';
  return candidates.sort(
    (a, b) => age(a).localeCompare(age(b)) || (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''),
  )[0];
}

/**
 * The load error in a `/_/ready` answer (503 `{"status":"failed","reason":...}`), one line,
 * control characters out, cut to MESSAGE_LIMIT; undefined for any other answer (loading,
 * draining, ready, or not the runtime's JSON). The pod runs a function author's code, so the
 * answer is data to quote, never trusted to be well formed. Pure.
 */
export function loadErrorOf(answer: ReadyAnswer): string | undefined {
  if (answer.status !== 503) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(answer.body);
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null) return undefined;
  const { status, reason } = body as { status?: unknown; reason?: unknown };
  if (status !== 'failed' || typeof reason !== 'string') return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes
  const line = reason.replace(/[\u0000-\u001f\u007f\s]+/g, ' ').trim();
  if (line === '') return undefined;
  return line.length <= MESSAGE_LIMIT ? line : `${line.slice(0, MESSAGE_LIMIT - 1)}…`;
}

/** What a look at a function's pods came to. */
export interface LoadCheck {
  /** The HandlerLoaded condition, when a pod of the current revision failed to load its handler. */
  failure?: Verdict;
  /** A pod is still loading, or did not answer: look again after this long. */
  requeueAfterMs?: number;
}

/**
 * Ready's verdict while a load failure stands: False, HandlerLoadFailed, with the error itself
 * only when callers may see it (the operator set NIMBUS_ERROR_DETAIL=full), as Ready's message
 * reaches callers through the gateway. Pure.
 */
export function readyForLoadFailure(failure: Verdict, errorDetail: ErrorDetail | undefined): Verdict {
  return {
    status: 'False',
    reason: LOAD_FAILED,
    message: errorDetail === 'full' ? failure.message : GENERIC_LOAD_FAILURE,
  };
}

/**
 * Finds why a function's pods are not ready when the reason is its handler: with NIMBUS_ERROR_DETAIL
 * none, the load error is in the pod's log and its `/_/ready` answer only, and a Function's
 * status should say it. Per reconcile it takes the function's pods from the pods informer's
 * index and asks one unready pod of the current revision, once, with a timeout (the
 * NetworkPolicy lets the controller reach function pods); a pod still loading means another look
 * at a later reconcile, with backoff. With no pod to ask yet, nothing is scheduled: the index
 * reconciles the function when one of its pods gets an address.
 */
export class LoadFailures {
  /** Looks in a row at a function whose pod is still loading: the backoff's step. */
  private readonly attempts = new Map<string, number>();

  constructor(
    private readonly pods: PodsOfFunction,
    private readonly log: Logger,
    private readonly probe: ReadyProbe = (ip) => readReady(ip),
  ) {}

  async check(fn: FunctionResource, deployment: ObservedDeployment | undefined): Promise<LoadCheck> {
    const { namespace, name } = fn.metadata;
    const key = `${namespace}/${name}`;
    // A container function has no handler to fail loading, and no /_/ready that would say so.
    if (fn.spec?.runtime === 'container' || !hasUnreadyReplicas(deployment)) {
      this.attempts.delete(key);
      return {};
    }
    const template = (deployment as { spec?: { template?: KubeObject } }).spec?.template;
    const specHash = template?.metadata?.annotations?.[SPEC_HASH_ANNOTATION];
    const pod = podToAsk(this.pods.of(namespace, name), specHash);
    // No pod to ask yet (none made, or none with an address): the pods index brings the function
    // back when one gets its address; polling for it would cost every function at once a timer.
    if (pod === undefined) {
      this.attempts.delete(key);
      return {};
    }
    let error: string | undefined;
    try {
      error = loadErrorOf(await this.probe(pod.status?.podIP as string));
    } catch (err) {
      this.log.debug('a function pod did not answer /_/ready', {
        function: key,
        pod: pod.metadata.name,
        err,
      });
    }
    if (error !== undefined) {
      this.attempts.delete(key);
      return { failure: { status: 'False', reason: LOAD_FAILED, message: error } };
    }
    return { requeueAfterMs: this.nextRetry(key) };
  }

  /** The wait before the next look at a function, doubling per look in a row, to 30 s at most. */
  private nextRetry(key: string): number {
    const step = this.attempts.get(key) ?? 0;
    this.attempts.set(key, step + 1);
    return RETRY_MS[Math.min(step, RETRY_MS.length - 1)] as number;
  }

  /** A function deleted: its backoff goes. */
  forget(namespace: string, name: string): void {
    this.attempts.delete(`${namespace}/${name}`);
  }
}

/** `GET http://<ip>:8080/_/ready`, at most PROBE_TIMEOUT_MS and ANSWER_LIMIT bytes. */
export function readReady(ip: string, port = PORT): Promise<ReadyAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: ip, port, path: '/_/ready', method: 'GET' });
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome();
    };
    const give = (message: string) => {
      settle(() => reject(new Error(`GET ${ip}:${port}/_/ready: ${message}`)));
      req.destroy();
    };
    const timer = setTimeout(() => give(`no answer within ${PROBE_TIMEOUT_MS} ms`), PROBE_TIMEOUT_MS);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (body.length > ANSWER_LIMIT) give(`answered more than ${ANSWER_LIMIT} bytes`);
      });
      res.on('end', () => settle(() => resolve({ status: res.statusCode ?? 0, body })));
      res.on('error', (err) => settle(() => reject(err)));
    });
    req.on('error', (err) => settle(() => reject(err)));
    req.end();
  });
}
