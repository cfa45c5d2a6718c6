import { request } from 'node:http';
import type { FunctionResource, Logger } from '@nimbus/api';
import type { Clock } from '@nimbus/api';
import { derivePoolToken } from '@nimbus/api/pool-token';
import { VERSION_LABEL, isVersioned, versionObjectName } from '@nimbus/api/versions';
import { type KubeClient, type KubeObject, RESOURCES, isConflict, isNotFound } from '@nimbus/kube';
import type { ServingPod } from '../autoscale/cluster-autoscaler.js';
import type { EventSink } from '../events/event-recorder.js';
import type { ControllerMetrics, PoolPodCount } from '../reconcile/controller-metrics.js';
import type { DeploymentSettings } from '../resources/deployment.js';
import { ADOPTED_LABEL, FUNCTION_LABEL, POOL_LABEL } from '../resources/metadata.js';
import {
  POOL_TOKEN_INIT,
  type Specialisation,
  adoptionPatch,
  poolable,
  specialisation,
} from '../resources/pool.js';
import { type PoolPodFault, type PoolPodView, poolPodFault } from './pool-health.js';
import type { PoolKeys } from './pool-keys.js';
import {
  type VersionDeploymentView,
  type VersionPlan,
  versionPlan,
  versionSpecialisation,
} from './version-specialisation.js';

/** A source ConfigMap as read: its code by key. */
interface SourceConfigMap extends KubeObject {
  data?: Record<string, string>;
}

export interface Pod extends KubeObject {
  spec?: { initContainers?: { name: string }[] };
  status?: PoolPodView['status'] & { podIP?: string; conditions?: { type: string; status: string }[] };
}

/** A pool pod whose init container derived it a token of its own (all but a pre-upgrade pod's). */
const hasOwnToken = (pod: Pod) => pod.spec?.initContainers?.some((c) => c.name === POOL_TOKEN_INIT) === true;

/** The pods the controller sees (Nimbus's, through an informer). */
export interface PodList {
  list(): Iterable<Pod>;
}

const PORT = 8080;
/** How long a pool pod may take to load a function's handler before it is given up. */
const LOAD_DEADLINE_MS = 10_000;
const READY_POLL_MS = 5;
/**
 * A broken generic pod's grace period: it serves nothing and its runtime is down or exiting, so
 * there is nothing to drain; not the pool template's hour, kept for a function's drain.
 */
const REPLACE_GRACE_SECONDS = 5;

const isReady = (pod: Pod) =>
  pod.metadata.deletionTimestamp === undefined &&
  pod.status?.podIP !== undefined &&
  pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

/**
 * The warm pools' pods seen from the controller: on a wake it takes a ready pod of the pool of the
 * function's runtime in its namespace, sends it the function's settings and code
 * (`POST /_/specialise`), then relabels the pod into the function's endpoints while the handler
 * loads (requests that reach it meanwhile wait in the runtime for the load). The pool's ReplicaSet, having lost the pod, starts a replacement: the pool
 * refills by itself. The pod serves until the function's own pods are ready, then `handOff`
 * deletes it and it drains.
 */
export class PoolPods {
  /** Pods being taken over now, so two wakes never pick the same one. */
  private readonly claimed = new Set<string>();
  /** Broken pods being deleted now, so the status updates that follow send no second delete. */
  private readonly replacing = new Set<string>();

  constructor(
    private readonly client: KubeClient,
    private readonly pods: PodList,
    private readonly keys: PoolKeys,
    private readonly settings: DeploymentSettings,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly metrics: ControllerMetrics,
    private readonly events: EventSink,
  ) {
    metrics.countPoolPods(() => this.census());
  }

  /**
   * The generic pods (a pool label, not yet taken over) by namespace, runtime and readiness. A
   * pool with pods has both states, zeros included, so "no ready pod" is a series an alert sees.
   */
  private census(): PoolPodCount[] {
    const pools = new Map<string, { ready: PoolPodCount; starting: PoolPodCount }>();
    for (const pod of this.pods.list()) {
      const runtime = pod.metadata.labels?.[POOL_LABEL];
      if (runtime === undefined || pod.metadata.deletionTimestamp !== undefined) continue;
      const namespace = pod.metadata.namespace ?? '';
      const key = `${namespace} ${runtime}`;
      let pool = pools.get(key);
      if (pool === undefined) {
        const count = (state: PoolPodCount['state']) => ({ namespace, runtime, state, pods: 0 });
        pool = { ready: count('ready'), starting: count('starting') };
        pools.set(key, pool);
      }
      pool[isReady(pod) ? 'ready' : 'starting'].pods++;
    }
    return [...pools.values()].flatMap(({ ready, starting }) => [ready, starting]);
  }

  /**
   * Deletes `pod` if it is a generic pool pod whose runtime exited (poolPodFault says why): it
   * cannot come back in place, and its ReplicaSet replaces it with a fresh pod and token. The
   * delete is conditional on the version seen, so a pod relabelled for a function meanwhile is
   * never deleted here. Never throws: a failure is logged, and the pod's next update tries again.
   */
  async heal(pod: Pod): Promise<void> {
    const fault = poolPodFault(pod);
    const { namespace = '', name = '', uid, resourceVersion } = pod.metadata;
    if (fault === undefined || uid === undefined || this.claimed.has(uid) || this.replacing.has(uid)) return;
    this.replacing.add(uid);
    try {
      await this.client.delete(RESOURCES.pods, namespace, name, {
        uid,
        resourceVersion,
        gracePeriodSeconds: REPLACE_GRACE_SECONDS,
      });
      this.metrics.poolPodsReplaced.inc({ reason: fault });
      const message = `replacing warm-pool pod ${name}: its runtime container ${FAULTS[fault]}, and a pool pod cannot restart in place (its token is read once); the pool's ReplicaSet starts a fresh one`;
      this.log.warn(message, { namespace, pod: name, reason: fault });
      this.events.emit(
        { apiVersion: 'v1', kind: 'Pod', metadata: pod.metadata },
        'Warning',
        'PoolPodReplaced',
        message,
      );
    } catch (err) {
      // Gone already, or changed since it was seen (its next update brings it back here).
      if (!isNotFound(err) && !isConflict(err))
        this.log.warn('could not delete a broken pool pod', { namespace, pod: name, err });
    } finally {
      this.replacing.delete(uid);
    }
  }

  /** Every generic pool pod that is broken now: at the start of a leadership term. */
  async healAll(): Promise<void> {
    for (const pod of [...this.pods.list()]) await this.heal(pod);
  }

  /**
   * Moves a pool pod to `fn` (or, for a versioned Function, to its `version`): specialises it,
   * then relabels it into the function's (the version's) endpoints while its handler loads.
   * Resolves with its address once it has loaded the function and carries its labels, or
   * undefined when its pool had none ready or the version cannot run in one (the function's own
   * Deployment wakes it all the same, only slower). A pod that took the function but failed to
   * load it is deleted: it can serve nothing else now.
   */
  async adopt(fn: FunctionResource, version?: string): Promise<ServingPod | undefined> {
    const { namespace } = fn.metadata;
    // A versioned Function is woken one version at a time, a plain one never by version.
    if (!poolable(fn) || isVersioned(fn.spec) !== (version !== undefined)) return undefined;
    const plan = version === undefined ? undefined : await this.versionPlan(fn, version);
    if (plan === null) return undefined;
    // Its runtime's pool only: a Python function on a Node pod would never load. A version's
    // runtime is its pods' (spec.runtime may have changed since).
    const runtime = plan?.runtime ?? fn.spec.runtime;
    const pod = [...this.pods.list()].find(
      (p) =>
        p.metadata.namespace === namespace &&
        p.metadata.labels?.[POOL_LABEL] === runtime &&
        isReady(p) &&
        hasOwnToken(p) &&
        p.metadata.uid !== undefined &&
        !this.claimed.has(p.metadata.uid),
    );
    if (pod === undefined) {
      this.metrics.poolSpecialisations.inc({ runtime, outcome: 'empty' });
      return undefined;
    }
    const uid = pod.metadata.uid ?? '';
    const name = pod.metadata.name ?? '';
    const ip = pod.status?.podIP ?? '';
    this.claimed.add(uid);
    const started = this.clock.now();
    try {
      const [key, body] = await Promise.all([
        this.keys.get(namespace),
        plan === undefined ? specialisation(fn, this.settings) : this.versionBody(fn, plan),
      ]);
      if (key === undefined) throw new Error('the namespace has no pool key (Secret nimbus-pool-key)');
      // The pod's own token: the same its init container derived from the key and its UID.
      const token = derivePoolToken(key, uid);
      const keyed = this.clock.now();
      const answer = await post(ip, '/_/specialise', token, body);
      // The key changed under the pod (the Secret was remade): read it again for the next one.
      if (answer.status === 401 || answer.status === 403) this.keys.forget(namespace);
      // 409: taken by another wake meanwhile (or a controller before a failover); try no other.
      if (answer.status !== 202) throw new Error(`specialise answered ${answer.status}: ${answer.body}`);
      const specialised = this.clock.now();
      // The relabel and the handler's load at once: from the 202 on, a request the pod gets
      // (through its slice, once relabelled) waits in the runtime for the handler to load.
      let loadMs = 0;
      let relabelMs = 0;
      await Promise.all([
        this.loaded(ip, started).then(() => {
          loadMs = this.clock.now() - specialised;
        }),
        this.client.mergePatch(RESOURCES.pods, namespace, name, adoptionPatch(fn, version)).then(() => {
          relabelMs = this.clock.now() - specialised;
        }),
      ]);
      this.log.info('took a pool pod over', {
        function: `${namespace}/${fn.metadata.name}`,
        version,
        pod: name,
        ms: this.clock.now() - started,
        // Where the time went: the pool key, the specialise call, then the load beside the relabel.
        keyMs: keyed - started,
        specialiseMs: specialised - keyed,
        loadMs,
        relabelMs,
      });
      this.metrics.poolSpecialisations.inc({ runtime, outcome: 'adopted' });
      return { host: ip, port: PORT };
    } catch (err) {
      this.metrics.poolSpecialisations.inc({ runtime, outcome: 'failed' });
      this.log.warn('could not take a pool pod over; the function’s own pods will serve', {
        function: `${namespace}/${fn.metadata.name}`,
        version,
        pod: name,
        err,
      });
      await this.client
        .delete(RESOURCES.pods, namespace, name, { uid })
        .catch((e: unknown) =>
          isNotFound(e) ? undefined : this.log.warn('could not delete the pod', { pod: name, err: e }),
        );
      return undefined;
    } finally {
      this.claimed.delete(uid);
    }
  }

  /**
   * The pods `fn` took over from the pool that still run: all of them, or with `version` those of
   * that version alone (labelled with it at adoption).
   */
  adopted(fn: FunctionResource, version?: string): Pod[] {
    return [...this.pods.list()].filter(
      (p) =>
        p.metadata.namespace === fn.metadata.namespace &&
        p.metadata.labels?.[ADOPTED_LABEL] === 'true' &&
        p.metadata.labels?.[FUNCTION_LABEL] === fn.metadata.name &&
        (version === undefined || p.metadata.labels?.[VERSION_LABEL] === version) &&
        p.metadata.deletionTimestamp === undefined,
    );
  }

  /** A pod `fn` (its `version`) took over that runs and is ready (it was relabelled only once loaded), if any. */
  serving(fn: FunctionResource, version?: string): ServingPod | undefined {
    const ip = this.adopted(fn, version).find(isReady)?.status?.podIP;
    return ip === undefined ? undefined : { host: ip, port: PORT };
  }

  /** Deletes the pods `fn` (its `version`) took over: its own pods serve now (or it scaled to zero). They drain first. */
  async handOff(fn: FunctionResource, version?: string): Promise<void> {
    await this.release(fn, this.adopted(fn, version));
  }

  private async release(fn: FunctionResource, pods: readonly Pod[]): Promise<void> {
    for (const pod of pods) {
      await this.client
        .delete(RESOURCES.pods, fn.metadata.namespace, pod.metadata.name ?? '', { uid: pod.metadata.uid })
        .catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)));
    }
  }

  /**
   * Hands off what `fn` took over once it is not needed: when the Deployment it stood in for has
   * a ready pod of its own, or the autoscaler wants none. A versioned Function's pods are judged
   * one version at a time (the version's Deployment and replicas), so a version at zero lets its
   * pool pod go while another version runs on. `ready` gives a Deployment's ready replicas by name.
   */
  async settle(
    fn: FunctionResource,
    ready: (deployment: string) => number,
    replicas: (version?: string) => number,
  ): Promise<void> {
    const adopted = this.adopted(fn);
    if (adopted.length === 0) return;
    if (!isVersioned(fn.spec)) {
      if (ready(fn.metadata.name) > 0 || replicas() === 0) await this.handOff(fn);
      return;
    }
    const versions = new Set(adopted.map((p) => p.metadata.labels?.[VERSION_LABEL]));
    for (const version of versions) {
      // Taken over before versions were turned on: no version's Service lists it, so it serves nothing.
      if (version === undefined)
        await this.release(
          fn,
          adopted.filter((p) => p.metadata.labels?.[VERSION_LABEL] === undefined),
        );
      else if (ready(versionObjectName(fn.metadata.name, version)) > 0 || replicas(version) === 0)
        await this.handOff(fn, version);
    }
  }

  /**
   * How a pool pod becomes one replica of `version`, from its Deployment (versionPlan), or null
   * when it cannot: no such Deployment yet, or a version no pool pod can run (logged: its own
   * Deployment wakes it).
   */
  private async versionPlan(fn: FunctionResource, version: string): Promise<VersionPlan | null> {
    const { namespace, name } = fn.metadata;
    let deployment: VersionDeploymentView;
    try {
      deployment = await this.client.get(RESOURCES.deployments, namespace, versionObjectName(name, version));
    } catch (err) {
      if (!isNotFound(err)) this.log.warn('could not read a version’s Deployment', { namespace, name, err });
      return null;
    }
    const plan = versionPlan(fn, version, deployment, this.settings);
    if (typeof plan !== 'string') return plan;
    this.log.info('a version takes no pool pod; its own Deployment wakes it', {
      function: `${namespace}/${name}`,
      version,
      reason: plan,
    });
    return null;
  }

  /** The specialise body for a version: its code read from its immutable ConfigMap, its env from `plan`. */
  private async versionBody(fn: FunctionResource, plan: VersionPlan): Promise<Specialisation> {
    const { configMap, key } = plan.source;
    const source = await this.client.get<SourceConfigMap>(
      RESOURCES.configMaps,
      fn.metadata.namespace,
      configMap,
    );
    const code = source.data?.[key];
    if (!(source.metadata.ownerReferences ?? []).some((o) => o.uid === fn.metadata.uid))
      throw new Error(`ConfigMap ${configMap} is not the Function's`);
    if (code === undefined) throw new Error(`ConfigMap ${configMap} has no ${key}`);
    return versionSpecialisation(fn, plan, code, this.settings);
  }

  private async loaded(ip: string, started: number): Promise<void> {
    for (;;) {
      const answer = await get(ip, '/_/ready');
      if (answer.status === 200) return;
      if (this.clock.now() - started > LOAD_DEADLINE_MS)
        throw new Error(`the handler did not load within ${LOAD_DEADLINE_MS} ms: ${answer.body}`);
      await new Promise<void>((resolve) => this.clock.setTimeout(resolve, READY_POLL_MS));
    }
  }
}

const FAULTS: Record<PoolPodFault, string> = {
  'crash-loop': 'is in CrashLoopBackOff',
  restarted: 'restarted and is not ready',
  exited: 'exited',
};

interface Answer {
  status: number;
  body: string;
}

function exchange(ip: string, path: string, method: string, token?: string, body?: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = {};
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    if (text !== undefined) headers['content-type'] = 'application/json';
    const req = request({ host: ip, port: PORT, path, method, headers, timeout: 5000 }, (res) => {
      let received = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        received += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: received }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${ip}:${PORT}${path}: no answer within 5 s`)));
    req.on('error', reject);
    req.end(text);
  });
}

const post = (ip: string, path: string, token: string, body: unknown) =>
  exchange(ip, path, 'POST', token, body);
const get = (ip: string, path: string) => exchange(ip, path, 'GET');
