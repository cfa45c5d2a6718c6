import {
  type Checkpoint,
  CheckpointFullError,
  type CheckpointLimits,
  type CheckpointStore,
  DEFAULT_CHECKPOINT_LIMITS,
  checkCheckpointFields,
  checkCheckpointKey,
  checkField,
} from '../checkpoint-store.js';

/** Checkpoints for local mode: one process, so a Map per trigger, kept while the process lives. */
export class MemoryCheckpointStore implements CheckpointStore {
  private readonly maps = new Map<string, Map<string, string>>();
  private readonly limits: CheckpointLimits;

  constructor(limits: Partial<CheckpointLimits> = {}) {
    this.limits = { ...DEFAULT_CHECKPOINT_LIMITS, ...limits };
  }

  checkpoint(key: string): Checkpoint {
    checkCheckpointKey(key);
    const limits = this.limits;
    const maps = this.maps;
    return {
      async entries() {
        return new Map(maps.get(key));
      },
      async set(fields) {
        checkCheckpointFields(key, fields, limits);
        const map = maps.get(key) ?? new Map<string, string>();
        let added = 0;
        for (const field of fields.keys()) if (!map.has(field)) added++;
        if (map.size + added > limits.maxFields)
          throw new CheckpointFullError(key, map.size + added, limits.maxFields);
        for (const [field, value] of fields) map.set(field, value);
        maps.set(key, map);
      },
      async delete(fields) {
        for (const field of fields) checkField(key, field, limits);
        const map = maps.get(key);
        if (map === undefined) return;
        for (const field of fields) map.delete(field);
        if (map.size === 0) maps.delete(key);
      },
      async clear() {
        maps.delete(key);
      },
    };
  }
}
