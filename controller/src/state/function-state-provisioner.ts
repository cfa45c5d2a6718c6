import { createHash, randomBytes } from 'node:crypto';
import { type Clock, type FunctionResource, KIND, type Logger } from '@nimbus/api';
import { type KubeClient, type KubeObject, RESOURCES, isAlreadyExists, isNotFound } from '@nimbus/kube';
import { StoreUnavailableError, functionUsername } from '@nimbus/store';
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
import { STATE_SECRET_KEYS, buildStateSecret, stateSecretName } from '../resources/state-secret.js';
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

/** Where pods connect and the limit they enforce; undefined when the controller has no Redis. */
export interface StateSettings {
  functionUrl: string;
  maxValueBytes: number;
}

const PASSWORD = /^[\x21-\x7e]{16,256}$/;

export const newStatePassword = (): string => randomBytes(32).toString('base64url');

/** A digest that changes with the password, for the pod template; never the password itself. */
export function credentialsRevision(password: string): string {
  return createHash('sha256').update(password).digest('hex').slice(0, 16);
}

const verdict = (status: Verdict['status'], reason: string, message: string): Verdict => ({
  status,
  reason,
  message,
});

/**
 * Gives each Function with spec.state a Redis key space only it can reach: an ACL user limited
 * to its key prefix (RedisStateAdmin), whose password lives in a Secret `<function>-state` owned
 * by the Function. The password is made once and read back from the Secret on every reconcile,
 * so it stays stable; the user is set again each time, which also remakes it after Redis lost it.
 * Redis being away does not hold up the rest of the Function: the pods are bound to the Secret,
 * the StateReady condition says what failed, and the reconcile is retried with backoff.
 *
 * As a cleanup it removes the user, the keys and the Secret before a deleted Function goes. A
 * Function whose state is turned off gives up its user and Secret at once, but its keys only as
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
    private readonly newPassword: () => string = newStatePassword,
  ) {}

  /** State on, or keys of it still kept: the Function's deletion must remove them. */
  appliesTo(fn: FunctionResource): boolean {
    return (
      this.admin !== undefined &&
      (fn.spec.state?.enabled === true || retentionRecord(fn.status?.conditions).held)
    );
  }

  async prepare(fn: Fn): Promise<StatePreparation> {
    if (fn.spec.state?.enabled !== true) return this.retainOrRelease(fn);
    const { admin, settings } = this;
    if (admin === undefined || settings === undefined)
      return {
        condition: verdict(
          'False',
          'StateNotConfigured',
          'spec.state.enabled is set, but the controller has no NIMBUS_REDIS_URL: ctx.state calls fail until it has one',
        ),
      };
    const login = await this.ensureSecret(fn);
    if ('conflict' in login) return { condition: verdict('False', 'StateSecretConflict', login.conflict) };
    const { namespace, name } = fn.metadata;
    const binding: StateBinding = {
      redisUrl: settings.functionUrl,
      username: functionUsername(namespace, name),
      secretName: stateSecretName(fn),
      credentialsRevision: credentialsRevision(login.password),
      maxValueBytes: settings.maxValueBytes,
    };
    try {
      const user = await admin.ensureUser(namespace, name, login.password);
      return {
        binding,
        condition: verdict(
          'True',
          'UserReady',
          `Redis user ${user.username} may use only the keys ${user.keyPrefix}*`,
        ),
      };
    } catch (err) {
      const unavailable = err instanceof StoreUnavailableError;
      return {
        binding,
        condition: verdict(
          'False',
          unavailable ? 'RedisUnavailable' : 'RedisRefused',
          `the function's Redis user could not be set, so ctx.state calls fail; retrying: ${message(err)}`,
        ),
        retry: err instanceof Error ? err : new Error(message(err)),
      };
    }
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
          `spec.state is off, but its Redis user, Secret or keys could not be removed yet: ${message(err)}`,
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

  /** The password from the Function's Secret, made (or remade) when there is none to use. */
  private async ensureSecret(fn: Fn): Promise<{ password: string } | { conflict: string }> {
    const name = stateSecretName(fn);
    let secret = await this.readSecret(fn);
    if (secret !== undefined && !ownedByAFunction(secret))
      return {
        conflict: `Secret ${name} exists and does not belong to this Function; the state login goes there, so rename or delete it`,
      };
    if (secret !== undefined && ownerUid(secret) !== fn.metadata.uid) {
      // Left by an earlier Function of the same name, not yet collected.
      await this.deleteSecret(fn, secret.metadata.uid);
      secret = undefined;
    }
    const kept = secret === undefined ? undefined : decode(secret.data?.[STATE_SECRET_KEYS.password]);
    if (kept !== undefined && PASSWORD.test(kept)) return { password: kept };
    const password = this.newPassword();
    const desired = buildStateSecret(fn, {
      username: functionUsername(fn.metadata.namespace, fn.metadata.name),
      password,
    }) as unknown as KubeObject;
    if (secret !== undefined) {
      this.log.warn('the state Secret held no usable password; writing a new one', { secret: name });
      await this.secrets.apply(RESOURCES.secrets, desired, FIELD_MANAGER);
      return { password };
    }
    try {
      await this.secrets.create(RESOURCES.secrets, desired);
    } catch (err) {
      // Written meanwhile (a reconcile of a previous leader): use what is there.
      if (!isAlreadyExists(err)) throw err;
      const written = decode((await this.readSecret(fn))?.data?.[STATE_SECRET_KEYS.password]);
      if (written === undefined || !PASSWORD.test(written)) throw err;
      return { password: written };
    }
    return { password };
  }

  private async readSecret(fn: FunctionResource): Promise<SecretObject | undefined> {
    try {
      return await this.secrets.get<SecretObject>(
        RESOURCES.secrets,
        fn.metadata.namespace,
        stateSecretName(fn),
      );
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async deleteSecret(fn: FunctionResource, uid?: string): Promise<void> {
    try {
      await this.secrets.delete(
        RESOURCES.secrets,
        fn.metadata.namespace,
        stateSecretName(fn),
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
