import 'reflect-metadata';
import { type Logger, createLogger, sourceTriggersOf } from '@nimbus/api';
import { type Clock, systemClock } from '@nimbus/api';
import { JetStreamBus, NATS_INBOX_PREFIX } from '@nimbus/bus';
import type { KubeClient } from '@nimbus/kube';
import { type Tracing, startTracing } from '@nimbus/telemetry';
import { Registry } from 'prom-client';
import { type DependencyContainer, container as root } from 'tsyringe';
import { ReportEndpoint } from '../autoscale/report-endpoint.js';
import { WakeEndpoint } from '../autoscale/wake-endpoint.js';
import { EventRecorder, type EventSink } from '../events/event-recorder.js';
import { LeaseElector } from '../leader/lease-elector.js';
import { ControllerMetrics } from '../reconcile/controller-metrics.js';
import { FunctionController } from '../reconcile/function-controller.js';
import type { TriggerStatusSource } from '../reconcile/function-reconciler.js';
import type { FunctionCleanup } from '../reconcile/object-cache.js';
import { RolloutDriver } from '../rollout/rollout-driver.js';
import { SecretMirrorStore } from '../sources/secret-mirror-store.js';
import { SourceReconciler } from '../sources/source-reconciler.js';
import { TriggerSecretWatch } from '../sources/trigger-secret-watch.js';
import { triggerStatuses } from '../sources/trigger-status.js';
import { FunctionStateProvisioner } from '../state/function-state-provisioner.js';
import { RedisStateAdmin } from '../state/state-admin.js';
import { TOKENS } from '../tokens.js';
import { LazyBusAdmin } from '../triggers/lazy-bus-admin.js';
import { ScheduleCheck } from '../triggers/schedule-check.js';
import { TriggerReconciler } from '../triggers/trigger-reconciler.js';
import { ClusterController } from './cluster-controller.js';
import type { ClusterConfig } from './config.js';
import { HealthServer } from './health-server.js';

/** What a test (or another host) swaps in the cluster controller's composition root. */
export interface ClusterOverrides {
  logger?: Logger;
  registry?: Registry;
  clock?: Clock;
  events?: EventSink;
  /**
   * More for a Function's finalizer to clean up, besides the platform's own (JetStream consumers
   * with NIMBUS_NATS_URL, Redis users and keys with NIMBUS_REDIS_URL). A Function none applies to
   * gets no finalizer.
   */
  cleanups?: readonly FunctionCleanup[];
  /** In place of the tracing config.tracing sets up (a test's in-memory exporter). */
  tracing?: Tracing;
}

/** The cluster controller's composition root: one per process. */
export function createClusterContainer(
  config: ClusterConfig,
  client: KubeClient,
  overrides: ClusterOverrides = {},
): DependencyContainer {
  const c = root.createChildContainer();
  const clock = overrides.clock ?? systemClock;
  const log = overrides.logger ?? createLogger({ component: 'controller' }, config.logLevel);
  c.register(TOKENS.ClusterConfig, { useValue: config });
  c.register(TOKENS.KubeClient, { useValue: client });
  c.register(TOKENS.Clock, { useValue: clock });
  c.register(TOKENS.Logger, { useValue: log });
  c.register(TOKENS.Registry, { useValue: overrides.registry ?? new Registry() });
  const tracing = overrides.tracing ?? startTracing(config.tracing);
  const reports = new ReportEndpoint(clock, config.reportToken);
  c.register(TOKENS.ReportEndpoint, { useValue: reports });
  c.register(TOKENS.ControllerMetrics, { useValue: new ControllerMetrics(c.resolve(TOKENS.Registry)) });
  c.register(TOKENS.EventSink, {
    useValue:
      overrides.events ??
      new EventRecorder(client, clock, log, config.lease?.identity ?? 'nimbus-controller'),
  });
  // Trigger streams and consumers, with NATS: a step of every reconcile and a finalizer's cleanup.
  // The controller comes later and lists the Functions the stream is built from.
  const built: { controller?: FunctionController } = {};
  const bus =
    config.natsUrl === undefined
      ? undefined
      : new LazyBusAdmin(() =>
          JetStreamBus.connect({
            servers: (config.natsUrl as string).split(','),
            name: 'nimbus-controller',
            user: config.natsCredentials?.user,
            pass: config.natsCredentials?.pass,
            inboxPrefix: NATS_INBOX_PREFIX.controller,
          }),
        );
  const triggers =
    bus === undefined
      ? undefined
      : new TriggerReconciler(
          bus,
          { list: () => built.controller?.functions.list() ?? [] },
          c.resolve(TOKENS.EventSink),
          log.child({ part: 'triggers' }),
        );
  // Event sources: what each needs on its origin, the copies of their Secrets, their durables.
  const secretWatch = new TriggerSecretWatch(
    client,
    (namespace, name) =>
      built.controller?.requeue((f) => f.metadata.namespace === namespace && f.metadata.name === name),
    clock,
    config.triggerSecretCheckMs,
    log.child({ part: 'sources' }),
  );
  const sources =
    config.platformNamespace === undefined
      ? undefined
      : new SourceReconciler(
          client,
          new SecretMirrorStore(client, config.platformNamespace),
          bus,
          c.resolve(TOKENS.EventSink),
          log.child({ part: 'sources' }),
          (fn) => built.controller?.requeue((f) => f.metadata.uid === fn.metadata.uid),
          secretWatch,
        );
  if (sources !== undefined) secretWatch.start();
  // Rollouts: judged on the gateways' outcomes as each report arrives; a report that moves one
  // requeues its Function, whose reconcile asks the driver for status.traffic (TrafficPlanner).
  const rollouts = new RolloutDriver(clock, (key) =>
    built.controller?.requeue((f) => `${f.metadata.namespace}/${f.metadata.name}` === key),
  );
  c.register(RolloutDriver, { useValue: rollouts });
  reports.onOutcomes((outcomes) => rollouts.onReport(outcomes));
  reports.onSourcesChanged((keys) =>
    built.controller?.requeue((f) => keys.includes(`${f.metadata.namespace}/${f.metadata.name}`)),
  );
  const triggerStatus: TriggerStatusSource = (fn) => {
    if (sourceTriggersOf(fn).length === 0) return undefined;
    const outcomes =
      sources?.provisioning(fn) ??
      (sources === undefined
        ? sourceTriggersOf(fn).map((s) => ({
            name: s.name,
            kind: s.kind,
            ok: false,
            reason: 'NoPlatformNamespace',
            message:
              'the controller does not know its namespace (POD_NAMESPACE), where trigger Secrets are copied',
          }))
        : undefined);
    if (outcomes === undefined) return undefined;
    const prefix = `${fn.metadata.namespace}/${fn.metadata.name}/`;
    return triggerStatuses(outcomes, (trigger) => reports.sourceHealth(`${prefix}${trigger}`));
  };
  // Function state: a token Secret per Function with spec.state, before its Deployment; Redis to clear keys.
  const stateAdmin =
    config.state?.adminUrl === undefined
      ? undefined
      : new RedisStateAdmin(config.state.adminUrl, config.state, log.child({ part: 'state' }));
  const { serviceUrl, key, maxValueBytes } = config.state ?? {};
  const state = new FunctionStateProvisioner(
    client,
    stateAdmin,
    serviceUrl === undefined || key === undefined || maxValueBytes === undefined
      ? undefined
      : { serviceUrl, key, maxValueBytes },
    c.resolve(TOKENS.EventSink),
    log.child({ part: 'state' }),
    clock,
  );
  c.register(TOKENS.Cleanups, {
    useValue: [
      ...(overrides.cleanups ?? []),
      ...(triggers === undefined ? [] : [triggers]),
      ...(sources === undefined ? [] : [sources]),
      state,
    ],
  });
  const functions = new FunctionController(
    client,
    {
      namespaces: config.namespaces,
      workers: config.workers,
      resyncMs: config.resyncMs,
      runtimeImage: config.runtimeImage,
      ...(config.pythonRuntimeImage === undefined ? {} : { pythonRuntimeImage: config.pythonRuntimeImage }),
      gatewayUrl: config.gatewayUrl,
      runAsUser: config.runAsUser,
      ...(config.errorDetail === undefined ? {} : { errorDetail: config.errorDetail }),
      ...(config.functionIngress === undefined ? {} : { functionIngress: config.functionIngress }),
      ...(serviceUrl === undefined || key === undefined ? {} : { functionTokens: { serviceUrl, key } }),
      autoscaler: config.autoscaler,
      warmPoolSize: config.warmPoolSize,
    },
    c.resolve(TOKENS.EventSink),
    c.resolve(TOKENS.Cleanups),
    [
      new ScheduleCheck(c.resolve(TOKENS.EventSink)),
      ...(triggers === undefined ? [] : [triggers]),
      ...(sources === undefined ? [] : [sources]),
    ],
    state,
    reports,
    c.resolve(TOKENS.ControllerMetrics),
    clock,
    log,
    tracing,
    triggerStatus,
    rollouts,
  );
  built.controller = functions;
  c.register(TOKENS.FunctionController, { useValue: functions });
  const elector =
    config.lease === undefined
      ? undefined
      : new LeaseElector(client, config.lease, functions, clock, log.child({ part: 'leader-election' }));
  c.register(TOKENS.LeaseElector, { useValue: elector });
  const wakes = new WakeEndpoint(functions, config.reportToken, tracing);
  const health = new HealthServer(
    c.resolve(TOKENS.Registry),
    () => (functions.synced ? undefined : 'the informers have not listed Functions and their objects yet'),
    (req, res, path) => reports.handle(req, res, path) || wakes.handle(req, res, path),
  );
  c.register(TOKENS.HealthServer, { useValue: health });
  c.register(TOKENS.ClusterController, {
    useValue: new ClusterController(functions, elector, health, clock, log, async () => {
      secretWatch.stop();
      await Promise.all([bus?.close(), stateAdmin?.close(), tracing.shutdown()]);
    }),
  });
  return c;
}
