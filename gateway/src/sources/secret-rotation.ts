import { type ResolvedSource, sourceKey } from '@nimbus/api';
import {
  type SecretReader,
  SourceConfigError,
  mapSecretReader,
  mirroredKey,
  secretRefsOf,
} from '@nimbus/sources';

/** What a trigger's Secrets held when last looked at, and before that while its grace lasts. */
interface Held {
  readonly values: ReadonlyMap<string, string>;
  /** Rotations seen since the first look. */
  readonly generation: number;
  readonly previous?: { readonly values: ReadonlyMap<string, string>; readonly until: number };
}

/** How a look at a trigger's Secrets compares with the one before. */
export type SecretLook = 'first' | 'same' | 'rotated';

/**
 * Every key a trigger's spec names, as `<secret>.<key>` to value; a key that is not given (a
 * SourceConfigError) is left out, so a Secret removed counts as a change. Any other failure (the
 * API server away) is thrown: nothing is known then, and nothing should be restarted for it.
 */
export async function readSecretValues(
  source: ResolvedSource,
  reader: SecretReader,
): Promise<Map<string, string>> {
  const values = new Map<string, string>();
  for (const ref of secretRefsOf(source.spec as unknown as Record<string, unknown>)) {
    try {
      values.set(mirroredKey(ref), await reader.read(ref));
    } catch (err) {
      if (!(err instanceof SourceConfigError)) throw err;
    }
  }
  return values;
}

/**
 * The values of each source trigger's Secrets as this gateway last saw them, so that a rotation
 * is noticed (the runner restarts a reader whose credentials changed) and, for a pushed trigger
 * (a webhook's signing secret, an S3 notify token), the values it replaced are still accepted for
 * `graceMs` after the change was seen: senders are moved to a new secret by hand, some time after
 * the Secret. One step back only: a second rotation inside the grace ends the first one's. The
 * values stay in this process's memory; nothing here logs or exports them.
 */
export class SecretRotations {
  private readonly held = new Map<string, Held>();
  /** Per trigger, the rotation whose grace has been used (and said) already. */
  private readonly graceUsed = new Map<string, number>();

  constructor(private readonly graceMs: number) {}

  /** Records what `key`'s Secrets hold at `now`; says whether that differs from the last look. */
  observe(key: string, values: ReadonlyMap<string, string>, now: number): SecretLook {
    const before = this.held.get(key);
    if (before === undefined) {
      this.held.set(key, { values, generation: 0 });
      return 'first';
    }
    if (sameValues(before.values, values)) return 'same';
    this.held.set(key, {
      values,
      generation: before.generation + 1,
      previous: { values: before.values, until: now + this.graceMs },
    });
    return 'rotated';
  }

  /** How many rotations of `key`'s Secrets were seen: what its origin was last set up with. */
  generation(key: string): number {
    return this.held.get(key)?.generation ?? 0;
  }

  /**
   * A reader of what `source`'s Secrets held before their last rotation, while its grace lasts;
   * undefined otherwise. Looks at the current values first, so a rotation made since the last
   * look starts its grace now rather than being missed.
   */
  async previous(
    source: ResolvedSource,
    current: SecretReader,
    now: number,
  ): Promise<SecretReader | undefined> {
    const key = sourceKey(source);
    try {
      this.observe(key, await readSecretValues(source, current), now);
    } catch {
      // Unknown now: what was seen before still holds.
    }
    const previous = this.held.get(key)?.previous;
    if (previous === undefined || now >= previous.until) return undefined;
    return mapSecretReader(async () => previous.values);
  }

  /**
   * True the first time a request is accepted with `key`'s previous values since its last rotation,
   * false after: the log says it once per trigger per rotation, a metric counts every one.
   */
  firstGraceUse(key: string): boolean {
    const generation = this.generation(key);
    if (this.graceUsed.get(key) === generation) return false;
    this.graceUsed.set(key, generation);
    return true;
  }

  /** Forgets the triggers not in `keys` (gone from every Function). */
  retain(keys: ReadonlySet<string>): void {
    for (const key of this.held.keys()) if (!keys.has(key)) this.held.delete(key);
    for (const key of this.graceUsed.keys()) if (!keys.has(key)) this.graceUsed.delete(key);
  }
}

function sameValues(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, value] of a) if (b.get(key) !== value) return false;
  return true;
}
