import { relative } from 'node:path';
import { type Condition, type FunctionResource, type Logger, functionKey, parseDuration } from '@nimbus/api';
import type { Clock } from '@nimbus/api';
import { specHash } from '@nimbus/api';
import { type RouteConflict, resolveRouteClaims, routesCondition } from '@nimbus/api/route-claims';
import { configFromSpec } from '@nimbus/controller/autoscale/config';
import type {
  FunctionDirectory,
  FunctionRoute,
  Readiness,
  RouteTable,
  SourceHealthReport,
  WakeTrace,
  Waker,
} from '@nimbus/gateway';
import { inject, injectable } from 'tsyringe';
import type { LocalConfig } from './config.js';
import { type LoadedFunction, readFunctionFolder } from './function-files.js';
import { LocalAutoscaler } from './local-autoscaler.js';
import type { ProcessBackend, ReplicaSetSpec } from './process/process-backend.js';
import { buildCommandEnv, buildReplicaEnv } from './process/replica-env.js';
import { SourceError, materializeSource } from './source.js';
import { TOKENS } from './tokens.js';
import { triggerView } from './trigger-view.js';
import { LOCAL_VERSIONS_MESSAGE, localVersionsCondition } from './versions-note.js';

interface Deployed {
  loaded: LoadedFunction;
  revision: string;
  generation: number;
  /** When local mode first loaded it, as creationTimestamp: RFC 3339 to the second. */
  createdAt: string;
  /** What the backend runs for it, at the size the autoscaler last chose. */
  replicaSet: ReplicaSetSpec | undefined;
}

/**
 * Local mode's controller: makes the running processes match the folder of Function files.
 * Each reload reads every file, and a function whose file has become invalid keeps running
 * its last good version, as a cluster keeps an object whose update it refused.
 */
@injectable()
export class LocalPlatform implements FunctionDirectory, Readiness, Waker {
  readonly readOnlyReason: string;
  private readonly deployed = new Map<string, Deployed>();
  private loaded = false;
  private running: Promise<void> | undefined;
  private rerun = false;
  private gatewayUrl = '';
  /** The gateway's health board of source triggers; nothing is known of them until it is attached. */
  private sourceHealth: (key: string) => SourceHealthReport | undefined = () => undefined;
  private readonly autoscaler: LocalAutoscaler;

  constructor(
    @inject(TOKENS.LocalConfig) private readonly config: LocalConfig,
    @inject(TOKENS.RouteTable) private readonly routes: RouteTable,
    @inject(TOKENS.ProcessBackend) private readonly backend: ProcessBackend,
    @inject(TOKENS.Logger) private readonly log: Logger,
    @inject(TOKENS.Clock) private readonly clock: Clock,
  ) {
    this.readOnlyReason = `local mode reads Functions from the files in ${config.functionsDir}; change them there`;
    backend.onChange((key) => this.publish(key));
    this.autoscaler = new LocalAutoscaler(
      routes,
      {
        readyReplicas: (key) => backend.status(key)?.readyReplicas ?? 0,
        scaleTo: (key, replicas) => this.scaleTo(key, replicas),
      },
      clock,
      log.child({ component: 'autoscaler' }),
    );
  }

  /** Starts sampling concurrency and scaling each function between its min and max, to zero included. */
  startAutoscaling(): void {
    this.autoscaler.start();
  }

  // Waker: the gateway holds a request for a function without a ready replica.
  wake(route: FunctionRoute, trace?: WakeTrace): void {
    this.backend.starts.during(trace, () => this.autoscaler.wake(route));
  }

  private scaleTo(key: string, replicas: number): void {
    const deployed = this.deployed.get(key);
    if (deployed?.replicaSet === undefined) return;
    deployed.replicaSet = { ...deployed.replicaSet, replicas };
    this.backend.apply(deployed.replicaSet);
  }

  /** The gateway's own address, handed to replicas for ctx.invoke; known once it listens. */
  setGatewayUrl(url: string): void {
    this.gatewayUrl = url;
  }

  /** Where each trigger's health is read from for status: the board of the gateway in this process. */
  setSourceHealth(health: { of(key: string): SourceHealthReport | undefined }): void {
    this.sourceHealth = (key) => health.of(key);
  }

  /** Reads the folder and applies it. Calls during a reload run once more after it, never twice at once. */
  reload(): Promise<void> {
    if (this.running !== undefined) {
      this.rerun = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.rerun = false;
        try {
          await this.sync();
        } catch (err) {
          this.log.error('reading the functions folder failed', { dir: this.config.functionsDir, err });
        }
      } while (this.rerun);
      this.running = undefined;
    })();
    return this.running;
  }

  private async sync(): Promise<void> {
    const folder = await readFunctionFolder(this.config.functionsDir);
    const troubled = new Set(folder.problems.flatMap((p) => p.files));
    for (const problem of folder.problems) {
      this.log.error(`${problem.where}: ${problem.message}`, { file: problem.where });
    }
    const seen = new Set<string>();
    for (const fn of folder.functions) {
      const { name, namespace } = fn.resource.metadata;
      const key = functionKey(namespace, name);
      seen.add(key);
      try {
        await this.deploy(key, fn);
      } catch (err) {
        if (!(err instanceof SourceError)) throw err;
        troubled.add(fn.file);
        this.log.error(`${relative(process.cwd(), fn.file)}: ${err.message}`, { function: key });
      }
    }
    for (const [key, deployed] of this.deployed) {
      if (seen.has(key)) continue;
      if (troubled.has(deployed.loaded.file)) {
        this.log.warn('keeping the last good version while its file has errors', { function: key });
        continue;
      }
      this.deployed.delete(key);
      this.autoscaler.untrack(key);
      const { name, namespace } = deployed.loaded.resource.metadata;
      this.routes.remove(namespace, name);
      this.log.info('function removed', { function: key });
      await this.backend.remove(key);
    }
    if (!this.loaded) {
      this.loaded = true;
      this.log.info('functions loaded', { dir: this.config.functionsDir, count: this.deployed.size });
    }
  }

  private async deploy(key: string, fn: LoadedFunction): Promise<void> {
    const source = await materializeSource(fn, this.config.stateDir);
    const { spec, metadata } = fn.resource;
    const revision = specHash(spec, source.fingerprint);
    const previous = this.deployed.get(key);
    const generation =
      previous === undefined ? 1 : previous.generation + (previous.revision === revision ? 0 : 1);
    const createdAt = previous?.createdAt ?? new Date(this.clock.now()).toISOString().replace(/\.\d+Z$/, 'Z');
    this.deployed.set(key, { loaded: fn, revision, generation, createdAt, replicaSet: previous?.replicaSet });
    this.routes.http.set(key, createdAt, spec.http.routes);
    // Said once, when the Function turns versions on here (or is first read with them).
    const versioned = localVersionsCondition(spec) !== undefined;
    if (
      versioned &&
      (previous === undefined || localVersionsCondition(previous.loaded.resource.spec) === undefined)
    )
      this.log.warn(LOCAL_VERSIONS_MESSAGE, { function: key });
    if (previous?.revision === revision) return;
    const timeoutMs = parseDuration(spec.timeout);
    this.routes.upsert({
      name: metadata.name,
      namespace: metadata.namespace,
      timeoutMs,
      concurrency: spec.concurrency,
      gatewayAdmits: spec.runtime === 'container',
      auth: spec.http.auth,
      jwt: spec.http.jwt,
      rateLimit: spec.http.rateLimit,
    });
    const container = spec.runtime === 'container';
    const replicaSet: ReplicaSetSpec = {
      key,
      revision,
      env: container
        ? buildCommandEnv(fn.resource, { gatewayUrl: this.gatewayUrl, inherited: process.env })
        : buildReplicaEnv(fn.resource, source.dir, {
            gatewayUrl: this.gatewayUrl,
            inherited: process.env,
            errorDetail: this.config.errorDetail,
            stateMaxValueBytes: this.config.store.state.maxValueBytes,
          }),
      ...(spec.runtime === 'python3.11' ? { python: true } : {}),
      // The schema's rules hold a container function to a command and a folder here.
      ...(container
        ? { command: { argv: spec.command as string[], cwd: source.dir, readiness: spec.readiness } }
        : {}),
      replicas: this.autoscaler.track(key, configFromSpec(spec.scale, this.config.autoscaler)),
      stopGraceMs: timeoutMs + 2000,
      // The supervisor publishes the replicas' events into the gateway's bus, as this function.
      ...(container ? {} : { publisher: { namespace: metadata.namespace, name: metadata.name } }),
      // The supervisor answers the replicas' state calls (from memory or Redis): they hold no credentials.
      ...(spec.state?.enabled === true
        ? { state: { namespace: metadata.namespace, name: metadata.name, limits: stateQuota(spec.state) } }
        : {}),
    };
    (this.deployed.get(key) as Deployed).replicaSet = replicaSet;
    this.log.info(previous === undefined ? 'function added' : 'function changed', {
      function: key,
      revision,
    });
    this.backend.apply(replicaSet);
  }

  private publish(key: string): void {
    const deployed = this.deployed.get(key);
    const status = this.backend.status(key);
    if (deployed === undefined || status === undefined) return;
    const { name, namespace } = deployed.loaded.resource.metadata;
    // The problem can quote the handler's load error; callers hear it only with full detail.
    const problem =
      status.problem !== undefined && this.config.errorDetail === 'none' && status.problemIsTerminal
        ? "the handler failed to load; the Function's status and the log have the reason"
        : status.problem;
    const reason = problem ?? (status.replicas === 0 ? 'scaled to zero; waking' : 'replicas are starting');
    this.routes.setEndpoints(namespace, name, status.endpoints, reason, status.problemIsTerminal);
  }

  // FunctionDirectory
  list(): FunctionResource[] {
    return [...this.deployed.keys()].map((key) => this.describe(key)).filter((fn) => fn !== undefined);
  }

  get(namespace: string, name: string): FunctionResource | undefined {
    return this.describe(functionKey(namespace, name));
  }

  /** The Function as its file declares it, with no status composed (each event asks). */
  declared(namespace: string, name: string): FunctionResource | undefined {
    return this.deployed.get(functionKey(namespace, name))?.loaded.resource;
  }

  private describe(key: string): FunctionResource | undefined {
    const deployed = this.deployed.get(key);
    if (deployed === undefined) return undefined;
    const { resource } = deployed.loaded;
    const status = this.backend.status(key);
    const readyReplicas = status?.readyReplicas ?? 0;
    const ready: Condition =
      status?.problem !== undefined
        ? { type: 'Ready', status: 'False', reason: 'ReplicaFailure', message: status.problem }
        : readyReplicas > 0
          ? { type: 'Ready', status: 'True', reason: 'ReplicasReady' }
          : deployed.replicaSet?.replicas === 0
            ? {
                type: 'Ready',
                status: 'True',
                reason: 'ScaledToZero',
                message: 'no replica runs; a request wakes the function',
              }
            : {
                type: 'Ready',
                status: 'False',
                reason: 'ReplicasStarting',
                message: 'replicas are starting',
              };
    const { name, namespace } = resource.metadata;
    const triggers = triggerView(resource, this.sourceHealth);
    const conditions = triggers === undefined ? [ready] : [ready, triggers.condition];
    const versions = localVersionsCondition(resource.spec);
    if (versions !== undefined) conditions.push(versions);
    // The rule every gateway and the controller apply: a route another Function holds is refused.
    if ((resource.spec.http.routes?.length ?? 0) > 0)
      conditions.push(routesCondition(this.routeConflicts().get(key)));
    return {
      ...resource,
      metadata: {
        ...resource.metadata,
        generation: deployed.generation,
        creationTimestamp: deployed.createdAt,
      },
      status: {
        observedGeneration: deployed.generation,
        conditions,
        replicas: status?.replicas ?? 0,
        readyReplicas,
        url: `${this.gatewayUrl}/function/${name}.${namespace}`,
        ...(triggers === undefined ? {} : { triggers: triggers.triggers }),
      },
    };
  }

  private routeConflicts(): Map<string, RouteConflict[]> {
    const owners = [...this.deployed].map(([key, d]) => ({
      key,
      creationTimestamp: d.createdAt,
      routes: d.loaded.resource.spec.http.routes ?? [],
    }));
    return resolveRouteClaims(owners).conflicts;
  }

  // Readiness
  notReadyReason(): string | undefined {
    return this.loaded ? undefined : 'reading the functions folder';
  }

  async shutdown(): Promise<void> {
    this.autoscaler.stop();
    await this.running;
    await this.backend.shutdown();
  }
}

/** The Function's own state quota, where its spec sets one. */
function stateQuota(state: { maxKeys?: number; maxBytes?: number }): { maxKeys?: number; maxBytes?: number } {
  return {
    ...(state.maxKeys === undefined ? {} : { maxKeys: state.maxKeys }),
    ...(state.maxBytes === undefined ? {} : { maxBytes: state.maxBytes }),
  };
}
