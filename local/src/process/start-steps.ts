import type { WakeStep, WakeTrace } from '@nimbus/gateway';
import type { ReplicaHandle } from './replica.js';

/**
 * The replicas a traced wake started, each a step of the held request's trace from its start to
 * ready (or failed): a new process, or a warm pool process loading the function. A wake scales
 * synchronously, so a trace is set only for the span of that call (`during`).
 */
export class StartSteps {
  private trace: WakeTrace | undefined;
  private readonly open = new Map<ReplicaHandle, WakeStep>();

  /** Runs `wake` with `trace` as the trace of any replica it starts. */
  during(trace: WakeTrace | undefined, wake: () => void): void {
    this.trace = trace;
    try {
      wake();
    } finally {
      this.trace = undefined;
    }
  }

  started(replica: ReplicaHandle, from: 'pool' | 'process'): void {
    if (this.trace === undefined) return;
    const name = from === 'pool' ? 'specialise pool replica' : 'start replica';
    this.open.set(replica, this.trace.step(name, { 'nimbus.replica': replica.id }));
  }

  changed(replica: ReplicaHandle): void {
    const step = this.open.get(replica);
    if (step === undefined || replica.state === 'starting') return;
    this.open.delete(replica);
    step.end(replica.state === 'ready' ? undefined : (replica.reason ?? `the replica is ${replica.state}`));
  }
}
