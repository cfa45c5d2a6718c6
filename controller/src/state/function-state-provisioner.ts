import { createHash } from 'node:crypto';
import { type Clock, type FunctionResource, KIND, type Logger } from '@nimbus/api';
import { type KubeClient, type KubeObject, RESOURCES, isAlreadyExists, isNotFound } from '@nimbus/kube';
import { StoreUnavailableError, stateToken } from '@nimbus/store';
import type { EventSink } from '../events/event-recorder.js';
import {
  FIELD_MANAGER,
  FINALIZER,
  type StatePreparation,
  type StateProvisioner,
} from '../reconcile/function-reconciler.js';
import type { FunctionCleanup } from '../reconcile/object-cache.js';
import type { Verdict } from '../reconcile/status.js';
import type { StateBinding } from '../resources/state-binding.js';
import {
  STATE_SECRET_KEYS,
  buildStateSecret,
  stateSecretName,
  tokenSecretName,
} from '../resources/state-secret.js';
import type { StateAdmin } from './state-admin.js';
import {
  RETAINED_CONDITION,
  decideStateRetention,
  retentionRecord,
  retentionVerdict,
} from './state-retention.js';

type Fn = FunctionResource & KubeObject;

interface SecretObject extends KubeObject {
  data?: Record<string, string>;
}

/** The calls on Secrets the provisioner makes. */
export type SecretClient = Pick<KubeClient, 'get' | 'create' | 'apply' | 'delete'>;

/** Where pods reach their state, the key their tokens are made with, and the value limit they check first. */
export interface StateSettings {
  /** The gateway's state service (NIMBUS_STATE_SERVICE_URL). */
  serviceUrl: string;
  /** The platform's state key (NIMBUS_STATE_KEY), which the gateway holds too. */
  key: string;
  maxValueBytes: number;
}

/** A digest that changes with the token, for the pod template; never the token itself. */
export function credentialsRevision(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 16);
}

const verdict = (status: Verdict['status'], reason: string, message: string): Verdict => ({
  status,
  reason,
  message,
});

/**
 * Gives each Function with spec.state its token for the gateway's state service, in a Secret
 * `<function>-state` owned by the Function, and binds its pods to it. The token is an HMAC of the
 * function's name under the state key, so it is written again whenever it is missing or the key
 * changed. Functions get no Redis login: Redis runs scripts with the caller's rights and has no
 * per-user size or quota limits, so only the gateway (which enforces them) talks to it. A Secret
 * left by an earlier version still holding a Redis password is replaced, and that version's
 * Redis user removed.
 *
 * As a cleanup it removes the keys and the Secret (and such a user) before a deleted Function
 * goes. A Function whose state is turned off gives up its Secret at once, but its keys only as
 * spec.state.deletionPolicy and retainFor say (state-retention.ts): kept by default, so turning
 * state off by mistake loses nothing.
 */
export class FunctionStateProvisioner implements StateProvisioner, FunctionCleanup {
  readonly name = 'redis-state';

  constructor(
    private readonly secrets: SecretClient,
    private readonly admin: StateAdmin | undefined,
    private readonly settings: StateSettings | undefined,
    private readonly events: EventSink,
    private readonly log: Logger,
    private readonly clock: Clock,
  ) {}

  /** State on, or keys of it still kept: the Function's deletion must remove them. */
  appliesTo(fn: FunctionResource): boolean {
    return (
      (this.admin !== undefined || this.settings !== undefined) &&
      (fn.spec.state?.enabled === true || retentionRecord(fn.status?.conditions).held)
    );
  }

  async prepare(fn: Fn): Promise<StatePreparation> {
    if (fn.spec.state?.enabled !== true)
      return { ...(await this.retainOrRelease(fn)), ...(await this.tokenOnly(fn)) };
    const { settings } = this;
    if (settings === undefined)
      return {
        condition: verdict(
          'False',
          'StateNotConfigured',
          'spec.state.enabled is set, but the controller has no NIMBUS_STATE_SERVICE_URL and NIMBUS_STATE_KEY: ctx.state calls fail until it has them',
        ),
      };
    const { namespace, name } = fn.metadata;
    const token = stateToken(settings.key, namespace, name);
    const written = await this.ensureSecret(fn, token, stateSecretName(fn));
    if ('conflict' in written)
      return { condition: verdict('False', 'StateSecretConflict', written.conflict) };
    const binding: StateBinding = {
      state: true,
      serviceUrl: settings.serviceUrl,
      secretName: stateSecretName(fn),
      credentialsRevision: credentialsRevision(token),
      maxValueBytes: settings.maxValueBytes,
    };
    if (written.replacedPassword && this.admin !== undefined) {
      try {
        await this.admin.deleteUser(namespace, name);
      } catch (err) {
        const unavailable = err instanceof StoreUnavailableError;
        return {
          binding,
          condition: verdict(
            'False',
            unavailable ? 'RedisUnavailable' : 'RedisRefused',
            `the Redis user an earlier version made for this function could not be removed yet; retrying: ${message(err)}`,
          ),
          retry: err instanceof Error ? err : new Error(message(err)),
        };
      }
    }
    return {
      binding,
      condition: verdict(
        'True',
        'TokenReady',
        `ctx.state goes through the gateway's state service with the token in Secret ${binding.secretName}; the function has no Redis access`,
      ),
    };
  }

  async cleanup(fn: FunctionResource): Promise<void> {
    if (this.admin === undefined) return;
    const { namespace, name } = fn.metadata;
    const deleted = await this.admin.deleteUser(namespace, name);
    const keys = await this.admin.clearKeys(namespace, name);
    await this.deleteSecret(fn);
    this.log.info('function state removed', { function: `${namespace}/${name}`, user: deleted, keys });
  }

  /**
   * State turned off: the login goes at once (the pods no longer mount it, and a credential nobody
   * uses is only a risk), the keys as the retention decision says. The decision's input is the
   * Function's own status (StateReady or StateRetained), so it survives a restart of the controller.
   */
  private async retainOrRelease(fn: Fn): Promise<StatePreparation> {
    const { admin } = this;
    if (admin === undefined) return {};
    const record = retentionRecord(fn.status?.conditions);
    // Only a Function that had state under this controller carries the finalizer: the others
    // have nothing in Redis, and cost no Secret read.
    if (!record.held && !record.deleted && !fn.metadata.finalizers?.includes(FINALIZER)) return {};
    const secret = await this.readSecret(fn);
    const ownSecret = secret !== undefined && ownerUid(secret) === fn.metadata.uid;
    const decision = decideStateRetention(
      fn.spec.state,
      // A Secret of its own means state was on here, whatever the status says.
      { ...record, held: record.held || ownSecret },
      this.clock.now(),
    );
    if (decision.action === 'none') {
      // Deleted earlier: keep saying so while state stays off.
      const before = fn.status?.conditions?.find((c) => c.type === RETAINED_CONDITION);
      return record.deleted && before !== undefined
        ? { retained: verdict('False', before.reason ?? 'KeysDeleted', before.message ?? '') }
        : {};
    }
    const { namespace, name } = fn.metadata;
    try {
      if (ownSecret) {
        await admin.deleteUser(namespace, name);
        await this.deleteSecret(fn);
      }
      if (decision.action === 'delete') {
        const keys = await admin.clearKeys(namespace, name);
        const verdict = retentionVerdict(decision, fn.spec.state);
        this.log.info('function state deleted', {
          function: `${namespace}/${name}`,
          keys,
          why: decision.why,
        });
        if (!record.deleted) this.events.emit(fn, 'Normal', 'StateDeleted', verdict.message);
        return { retained: verdict };
      }
    } catch (err) {
      return {
        condition: verdict(
          'False',
          'StateReleasePending',
          `spec.state is off, but its Secret or keys could not be removed yet: ${message(err)}`,
        ),
        // The period keeps counting from when it began.
        ...(decision.action === 'retain' ? { retained: retentionVerdict(decision, fn.spec.state) } : {}),
        retry: err instanceof Error ? err : new Error(message(err)),
      };
    }
    const kept = retentionVerdict(decision, fn.spec.state);
    if (record.since === undefined) this.events.emit(fn, 'Normal', 'StateRetained', kept.message);
    return {
      retained: kept,
      ...(decision.until === undefined ? {} : { requeueAfterMs: decision.until - this.clock.now() }),
    };
  }

  /**
   * A function without state still gets its token, for ctx.publish (the simplest honest rule:
   * every function on a Nimbus runtime gets its token; a container function has no runtime to use
   * it). In `<function>-token`, owned by the Function; a name taken by a Secret of someone else's
   * leaves the function without ctx.publish, and says why in the log.
   */
  private async tokenOnly(fn: Fn): Promise<Pick<StatePreparation, 'binding'>> {
    const { settings } = this;
    if (settings === undefined || fn.spec.runtime === 'container') return {};
    const { namespace, name } = fn.metadata;
    const token = stateToken(settings.key, namespace, name);
    const written = await this.ensureSecret(fn, token, tokenSecretName(fn));
    if ('conflict' in written) {
      this.log.warn('the function token has no Secret: ctx.publish is not configured for it', {
        function: `${namespace}/${name}`,
        why: written.conflict,
      });
      return {};
    }
    return {
      binding: {
        state: false,
        serviceUrl: settings.serviceUrl,
        secretName: tokenSecretName(fn),
        credentialsRevision: credentialsRevision(token),
        maxValueBytes: settings.maxValueBytes,
      },
    };
  }

  /**
   * Writes the token into the Function's Secret `name` unless it is there already. A Secret of an
   * earlier version (a Redis login) is replaced whole, so no password stays behind in it.
   */
  private async ensureSecret(
    fn: Fn,
    token: string,
    name: string,
  ): Promise<{ replacedPassword: boolean } | { conflict: string }> {
    let secret = await this.readSecret(fn, name);
    if (secret !== undefined && !ownedByAFunction(secret))
      return {
        conflict: `Secret ${name} exists and does not belong to this Function; the function token goes there, so rename or delete it`,
      };
    const legacy = secret?.data?.password !== undefined;
    if (secret !== undefined && (ownerUid(secret) !== fn.metadata.uid || legacy)) {
      // Left by an earlier Function of the same name, not yet collected, or by an earlier version.
      await this.deleteSecret(fn, secret.metadata.uid, name);
      secret = undefined;
    }
    if (secret !== undefined && decode(secret.data?.[STATE_SECRET_KEYS.token]) === token)
      return { replacedPassword: false };
    const desired = buildStateSecret(fn, token, name) as unknown as KubeObject;
    if (secret !== undefined) {
      this.log.info('the token Secret held another token (the state key changed?); writing the current one', {
        secret: name,
      });
      await this.secrets.apply(RESOURCES.secrets, desired, FIELD_MANAGER);
      return { replacedPassword: false };
    }
    try {
      await this.secrets.create(RESOURCES.secrets, desired);
    } catch (err) {
      // Written meanwhile (a reconcile of a previous leader): fine if it holds the same token.
      if (!isAlreadyExists(err)) throw err;
      const written = decode((await this.readSecret(fn, name))?.data?.[STATE_SECRET_KEYS.token]);
      if (written !== token) throw err;
    }
    return { replacedPassword: legacy };
  }

  private async readSecret(
    fn: FunctionResource,
    name = stateSecretName(fn),
  ): Promise<SecretObject | undefined> {
    try {
      return await this.secrets.get<SecretObject>(RESOURCES.secrets, fn.metadata.namespace, name);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async deleteSecret(fn: FunctionResource, uid?: string, name = stateSecretName(fn)): Promise<void> {
    try {
      await this.secrets.delete(
        RESOURCES.secrets,
        fn.metadata.namespace,
        name,
        uid === undefined ? {} : { uid },
      );
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}

function ownedByAFunction(object: KubeObject): boolean {
  return ownerUid(object) !== undefined;
}

function ownerUid(object: KubeObject): string | undefined {
  return object.metadata.ownerReferences?.find((o) => o.kind === KIND && o.controller === true)?.uid;
}

function decode(value: string | undefined): string | undefined {
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
