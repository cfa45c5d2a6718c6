import type { Clock, Logger } from '@nimbus/api';
import { type KubeClient, RESOURCES, isNotFound } from '@nimbus/kube';

interface Watched {
  readonly namespace: string;
  readonly name: string;
  /** Each Secret the Function's source triggers name: its resourceVersion when last copied. */
  readonly versions: ReadonlyMap<string, string | undefined>;
}

/**
 * Notices a Secret rotated under a Function's source triggers, so its copy beside the gateway is
 * written again soon rather than at the next resync. The controller may not list or watch Secrets
 * (it reads only those a Function names), so each named Secret's metadata is read by name every
 * `intervalMs`, once a pass however many Functions name it, and a Function whose Secrets' versions
 * moved (changed, made, deleted, labelled) is reconciled again. Only metadata: no value is read here.
 */
export class TriggerSecretWatch {
  private readonly watched = new Map<string, Watched>();
  private timer: unknown;
  private stopped = false;

  constructor(
    private readonly client: Pick<KubeClient, 'getMetadata'>,
    private readonly requeue: (namespace: string, name: string) => void,
    private readonly clock: Clock,
    /** 0: no checks (a rotation is copied at the Function's next reconcile or resync). */
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  /** What a reconcile copied: the versions of the Secrets it read. */
  remember(namespace: string, name: string, versions: ReadonlyMap<string, string | undefined>): void {
    const key = `${namespace}/${name}`;
    if (versions.size === 0) this.watched.delete(key);
    else this.watched.set(key, { namespace, name, versions });
  }

  forget(namespace: string, name: string): void {
    this.watched.delete(`${namespace}/${name}`);
  }

  start(): void {
    if (this.intervalMs <= 0) return;
    const loop = () => {
      this.timer = this.clock.setTimeout(() => {
        void this.check()
          .catch((err: unknown) => this.log.warn('could not check the Secrets of source triggers', { err }))
          .finally(() => {
            if (!this.stopped) loop();
          });
      }, this.intervalMs);
    };
    loop();
  }

  stop(): void {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
  }

  /** One pass: asks for every Function whose named Secrets moved to be reconciled again. */
  async check(): Promise<void> {
    const now = new Map<string, Promise<string | undefined>>();
    const versionOf = (namespace: string, secret: string) => {
      const id = `${namespace}/${secret}`;
      let version = now.get(id);
      if (version === undefined) {
        version = this.version(namespace, secret);
        now.set(id, version);
      }
      return version;
    };
    for (const [key, watched] of [...this.watched]) {
      let moved = false;
      try {
        for (const [secret, version] of watched.versions)
          if ((await versionOf(watched.namespace, secret)) !== version) moved = true;
      } catch {
        continue; // The API server away: nothing is known, and the next pass asks again.
      }
      if (!moved) continue;
      this.log.info("a Secret of a Function's source triggers changed; copying it again", { function: key });
      this.requeue(watched.namespace, watched.name);
    }
  }

  private async version(namespace: string, secret: string): Promise<string | undefined> {
    try {
      return (await this.client.getMetadata(RESOURCES.secrets, namespace, secret)).metadata.resourceVersion;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}
