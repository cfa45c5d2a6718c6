import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The controller's Prometheus metrics, on an injected registry. */
export class ControllerMetrics {
  readonly reconciles: Counter<'result'>;
  readonly reconcileSeconds: Histogram;
  readonly reconcileErrors: Counter;
  readonly applies: Counter<'kind'>;
  readonly queueDepth: Gauge;
  readonly leader: Gauge;
  readonly wakes: Counter<'outcome'>;
  readonly wakeSeconds: Histogram;
  readonly scalings: Counter<'reason'>;
  readonly poolPodsReplaced: Counter<'reason'>;
  readonly poolSpecialisations: Counter<'runtime' | 'outcome'>;
  readonly reconcileLag: Histogram;
  /** The warm pools' generic pods now, by namespace, runtime and state: PoolPods counts them once the pool is on. */
  private poolCensus: () => Iterable<PoolPodCount> = () => [];

  constructor(registry: Registry) {
    this.reconciles = new Counter({
      name: 'nimbus_controller_reconciles_total',
      help: 'Reconciles of Functions, by result (success, error).',
      labelNames: ['result'],
      registers: [registry],
    });
    this.reconcileSeconds = new Histogram({
      name: 'nimbus_controller_reconcile_duration_seconds',
      help: 'Time one reconcile of a Function took.',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    this.reconcileErrors = new Counter({
      name: 'nimbus_controller_reconcile_errors_total',
      help: 'Reconciles that failed and were queued again with backoff, by why: conflict (a write raced ours; the retry reads it), forbidden (the API server refused our credentials: RBAC), other.',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.applies = new Counter({
      name: 'nimbus_controller_applies_total',
      help: 'Server-side applies sent, by kind; an unchanged Function sends none.',
      labelNames: ['kind'],
      registers: [registry],
    });
    this.queueDepth = new Gauge({
      name: 'nimbus_controller_queue_depth',
      help: 'Functions waiting in the work queue.',
      registers: [registry],
    });
    this.leader = new Gauge({
      name: 'nimbus_controller_leader',
      help: '1 while this replica holds the leader lease and acts, else 0.',
      registers: [registry],
    });
    this.wakes = new Counter({
      name: 'nimbus_controller_wakes_total',
      help: 'Wakes the gateways sent, by outcome (raised, unchanged, not-found, not-leader, failed).',
      labelNames: ['outcome'],
      registers: [registry],
    });
    this.wakeSeconds = new Histogram({
      name: 'nimbus_controller_wake_seconds',
      help: "From a wake's arrival to the API server taking the raised replicas of the function's Deployment.",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    });
    this.scalings = new Counter({
      name: 'nimbus_controller_scalings_total',
      help: "The autoscaler's changes of a function's replicas, by the rule that decided (wake, stable, panic, scale-to-zero…).",
      labelNames: ['reason'],
      registers: [registry],
    });
    this.poolPodsReplaced = new Counter({
      name: 'nimbus_controller_pool_pods_replaced_total',
      help: 'Generic warm-pool pods deleted because their runtime container exited and cannot restart in place, by reason (crash-loop, restarted, exited).',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.poolSpecialisations = new Counter({
      name: 'nimbus_controller_pool_specialisations_total',
      help: 'Wakes that tried to take a warm-pool pod over, by runtime and outcome: adopted, failed (the pod was deleted), empty (no ready pod: the function woke the slow way).',
      labelNames: ['runtime', 'outcome'],
      registers: [registry],
    });
    this.reconcileLag = new Histogram({
      name: 'nimbus_controller_reconcile_lag_seconds',
      help: 'From a change to a Function or its objects being seen to the reconcile that took it in succeeding: queueing, retries and the reconcile itself.',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    });
    const metrics = this;
    new Gauge({
      name: 'nimbus_controller_pool_pods',
      help: 'Generic warm-pool pods (not yet taken over by a function), by namespace, runtime and state (ready, starting).',
      labelNames: ['namespace', 'runtime', 'state'],
      registers: [registry],
      collect() {
        this.reset();
        for (const { namespace, runtime, state, pods } of metrics.poolCensus())
          this.set({ namespace, runtime, state }, pods);
      },
    });
  }

  /** Where the pool gauge reads its counts from, when scraped. */
  countPoolPods(census: () => Iterable<PoolPodCount>): void {
    this.poolCensus = census;
  }
}

export interface PoolPodCount {
  namespace: string;
  runtime: string;
  state: 'ready' | 'starting';
  pods: number;
}
