import type { ReplicaSetSpec, ReplicaSetStatus } from '../../src/process/process-backend.js';

/** The process backend's surface LocalPlatform uses, in memory: what it was asked to run. */
export class RecordingBackend {
  readonly applied: ReplicaSetSpec[] = [];
  readonly starts = { during: <T>(_trace: unknown, run: () => T): T => run() };
  onChange(): void {}
  apply(spec: ReplicaSetSpec): void {
    this.applied.push(spec);
  }
  status(): ReplicaSetStatus | undefined {
    return undefined;
  }
  async remove(): Promise<void> {}
  async shutdown(): Promise<void> {}
}
