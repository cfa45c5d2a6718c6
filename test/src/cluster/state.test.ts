import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FunctionResource } from '@nimbus/api';
import { FINALIZER } from '@nimbus/controller';
import { KubeClient, RESOURCES, loadKubeConfig } from '@nimbus/kube';
import { runtimeEntryPath } from '@nimbus/runtime-node';
import {
  type FunctionStateConnection,
  RedisConnection,
  type RedisStores,
  StoreCommandError,
  createRedisStores,
  openFunctionState,
} from '@nimbus/store';
import { type RedisServer, eventually, freePort, send, startRedisServer, stopChild } from '@nimbus/testkit';
import type { ControlPlane } from '../harness/control-plane/control-plane.js';
import { freshNamespace, sharedControlPlane } from '../harness/control-plane/shared.js';
import { type RunningController, startController } from '../harness/controller.js';
import type { Pod, PodContainer } from '../harness/pod-objects.js';
import { containerEnv, materializeVolumes } from '../harness/pod-volumes.js';

const ADMIN_PASSWORD = 'admin-secret-0123456789';

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface Stored extends FunctionResource {
  metadata: FunctionResource['metadata'] & { finalizers?: string[]; resourceVersion?: string };
}
interface SecretView {
  metadata: { name: string; ownerReferences?: { kind: string; name: string; uid: string }[] };
  data: Record<string, string>;
}
interface DeploymentView {
  metadata: { generation: number };
  spec: {
    template: {
      metadata: { annotations: Record<string, string> };
      spec: Pod['spec'];
    };
  };
}

/** A handler that counts in ctx.state and reads another key. */
const COUNTER = `export default async (event, ctx) => {
  if (event.path === '/read') return { value: (await ctx.state.get(event.query.key)) ?? null };
  return { hits: await ctx.state.incr('hits') };
};`;

const fnDoc = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'nimbus.dev/v1alpha1',
  kind: 'Function',
  metadata: { name },
  spec: { source: { inline: COUNTER }, state: { enabled: true }, ...spec },
});

const decode = (value: string | undefined) => Buffer.from(value ?? '', 'base64').toString('utf8');

/** Talks to the API server about one namespace's Functions, Secrets, Deployments and Events. */
class Namespace {
  readonly client: KubeClient;

  constructor(
    readonly plane: ControlPlane,
    readonly name: string,
  ) {
    this.client = new KubeClient(loadKubeConfig({ KUBECONFIG: plane.kubeconfigPath }));
  }

  private get functions() {
    return `/apis/nimbus.dev/v1alpha1/namespaces/${this.name}/functions`;
  }

  async create(name: string, spec: Record<string, unknown> = {}): Promise<Stored> {
    const reply = await this.plane.request<Stored>('POST', this.functions, fnDoc(name, spec));
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
    return reply.body;
  }

  async get(name: string): Promise<Stored | undefined> {
    const reply = await this.plane.request<Stored>('GET', `${this.functions}/${name}`);
    return reply.status === 200 ? reply.body : undefined;
  }

  async patchSpec(name: string, spec: Record<string, unknown>): Promise<void> {
    await this.client.mergePatch(RESOURCES.functions, this.name, name, { spec });
  }

  async delete(name: string): Promise<void> {
    const reply = await this.plane.request('DELETE', `${this.functions}/${name}`);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
  }

  async secret(name: string): Promise<SecretView | undefined> {
    const reply = await this.plane.request<SecretView>(
      'GET',
      `/api/v1/namespaces/${this.name}/secrets/${name}`,
    );
    return reply.status === 200 ? reply.body : undefined;
  }

  async deployment(name: string): Promise<DeploymentView | undefined> {
    const reply = await this.plane.request<DeploymentView>(
      'GET',
      `/apis/apps/v1/namespaces/${this.name}/deployments/${name}`,
    );
    return reply.status === 200 ? reply.body : undefined;
  }

  /** Polls until the Function's StateReady condition has `reason`. */
  untilState(name: string, reason: string, ms = 15_000): Promise<Condition> {
    return eventually(
      async () => {
        const fn = await this.get(name);
        const c = (fn?.status?.conditions as Condition[] | undefined)?.find((x) => x.type === 'StateReady');
        return c?.reason === reason && fn?.status?.observedGeneration === fn?.metadata.generation
          ? c
          : undefined;
      },
      ms,
      `${name}: StateReady ${reason}`,
    );
  }

  untilEvent(name: string, reason: string): Promise<{ type: string; message: string }> {
    return eventually(
      async () => {
        const list = await this.plane.request<{
          items: { reason: string; type: string; message: string; involvedObject: { name: string } }[];
        }>('GET', `/api/v1/namespaces/${this.name}/events`);
        return list.body.items.find((e) => e.involvedObject.name === name && e.reason === reason);
      },
      10_000,
      `a ${reason} event for ${name}`,
    );
  }
}

/** The key patterns of the function's Redis user, or undefined when there is no such user. */
async function redisUser(admin: RedisStores, namespace: string, name: string): Promise<string | undefined> {
  const reply = await admin.connection.run('ACL GETUSER', (c) =>
    c.call('ACL', 'GETUSER', `nimbus-fn:${namespace}:${name}`),
  );
  if (reply === null) return undefined;
  const fields = reply as unknown[];
  return String(fields[fields.indexOf('keys') + 1]);
}

async function keysOf(admin: RedisStores, namespace: string, name: string): Promise<string[]> {
  return admin.connection.run('KEYS', (c) => c.keys(`nimbus:state:${namespace}:${name}:*`));
}

describe('function state in a cluster: Redis users per function, on the real API server', function () {
  this.timeout(2 * 60_000);
  let plane: ControlPlane;
  let ns: Namespace;
  let redis: RedisServer;
  let admin: RedisStores;
  let running: RunningController;
  const opened: FunctionStateConnection[] = [];
  const connections: RedisConnection[] = [];
  const children: ChildProcess[] = [];
  const dirs: string[] = [];

  /** The login the controller wrote into the Function's Secret. */
  const loginOf = async (name: string) => {
    const secret = await eventually(() => ns.secret(`${name}-state`), 15_000, `Secret ${name}-state`);
    return { username: decode(secret.data.username), password: decode(secret.data.password) };
  };

  /** ctx.state's own client, logged in as `login`, on the key space of `name`. */
  const stateAs = (login: { username: string; password: string }, name: string) => {
    const connection = openFunctionState({ url: redis.url, ...login, namespace: ns.name, function: name });
    opened.push(connection);
    return connection.state;
  };

  before(async () => {
    plane = await sharedControlPlane();
    ns = new Namespace(plane, await freshNamespace(plane, 'state'));
    redis = await startRedisServer({ args: ['--requirepass', ADMIN_PASSWORD] });
    const adminUrl = `redis://:${ADMIN_PASSWORD}@127.0.0.1:${redis.port}`;
    admin = createRedisStores(adminUrl);
    running = await startController(plane, ns.name, { NIMBUS_REDIS_URL: adminUrl });
  });

  after(async () => {
    await Promise.all(children.map((c) => stopChild(c)));
    await Promise.all(opened.map((c) => c.close()));
    await Promise.all(connections.map((c) => c.close()));
    await running?.stop();
    ns?.client.close();
    await admin?.close();
    await redis?.stop();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('makes a Redis user limited to the prefix and a Secret owned by the Function, and binds the Deployment to them', async () => {
    const fn = await ns.create('alpha');
    const login = await loginOf('alpha');
    assert.equal(login.username, `nimbus-fn:${ns.name}:alpha`);
    assert.match(login.password, /^[A-Za-z0-9_-]{43}$/);
    const secret = await ns.secret('alpha-state');
    assert.deepEqual(
      secret?.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid]),
      [['Function', 'alpha', fn.metadata.uid]],
    );

    const ready = await ns.untilState('alpha', 'UserReady');
    assert.equal(ready.status, 'True');
    assert.equal(
      ready.message,
      `Redis user nimbus-fn:${ns.name}:alpha may use only the keys nimbus:state:${ns.name}:alpha:*`,
    );
    assert.equal(await redisUser(admin, ns.name, 'alpha'), `~nimbus:state:${ns.name}:alpha:*`);
    assert.ok((await ns.get('alpha'))?.metadata.finalizers?.includes(FINALIZER), 'held for the cleanup');

    const deployment = await eventually(() => ns.deployment('alpha'), 15_000, 'the Deployment');
    const pod = deployment.spec.template.spec;
    const env = new Map(pod.containers[0]?.env?.map((e) => [e.name, e]));
    assert.equal(
      env.get('NIMBUS_STATE_REDIS_URL')?.value,
      `redis://127.0.0.1:${redis.port}`,
      'no admin password',
    );
    assert.equal(env.get('NIMBUS_STATE_REDIS_USERNAME')?.value, login.username);
    assert.equal(env.get('NIMBUS_STATE_REDIS_PASSWORD_FILE')?.value, '/var/nimbus/state/password');
    assert.doesNotMatch(JSON.stringify(deployment), new RegExp(`${login.password}|${ADMIN_PASSWORD}`));
    const volume = pod.volumes?.find((v) => v.name === 'state-credentials')?.secret;
    assert.equal(volume?.secretName, 'alpha-state');
    assert.deepEqual(volume?.items, [{ key: 'password', path: 'password' }]);
  });

  it("runs the Deployment's container as a process: it logs in from the mounted Secret and counts in Redis", async () => {
    const deployment = await eventually(() => ns.deployment('alpha'), 15_000, 'the Deployment');
    const container = deployment.spec.template.spec.containers[0] as PodContainer;
    const pod = {
      metadata: { name: 'alpha-0', namespace: ns.name },
      spec: deployment.spec.template.spec,
    } as Pod;
    const root = await mkdtemp(join(tmpdir(), 'nimbus-state-pod-'));
    dirs.push(root);
    const mounts = await materializeVolumes(ns.client, pod, container, root);
    const port = await freePort();
    const child = spawn(process.execPath, [runtimeEntryPath()], {
      env: { PATH: process.env.PATH ?? '', ...containerEnv(container, mounts, '127.0.0.1', port) },
      stdio: 'ignore',
    });
    children.push(child);
    const base = `http://127.0.0.1:${port}`;
    await eventually(
      async () => ((await send(base, '/_/ready').catch(() => undefined))?.status === 200 ? true : undefined),
      10_000,
      'the runtime to be ready',
    );
    assert.deepEqual((await send(base, '/')).json(), { hits: 1 });
    assert.deepEqual((await send(base, '/')).json(), { hits: 2 });
    const stored = await admin.connection.run('hget', (c) =>
      c.hget(`nimbus:state:${ns.name}:alpha:hits`, 'v'),
    );
    assert.equal(stored, '2');
  });

  it("refuses function A every read and write of function B's keys (NOPERM)", async () => {
    await ns.create('beta');
    await ns.untilState('beta', 'UserReady');
    const beta = await loginOf('beta');
    const alpha = await loginOf('alpha');
    await stateAs(beta, 'beta').set('secret', 'beta only');
    const betaKey = `nimbus:state:${ns.name}:beta:secret`;

    // ctx.state's client with A's login, pointed at B's key space.
    const intoBeta = stateAs(alpha, 'beta');
    for (const [what, call] of [
      ['get', () => intoBeta.get('secret')],
      ['set', () => intoBeta.set('secret', 'alpha was here')],
      ['incr', () => intoBeta.incr('n')],
      ['delete', () => intoBeta.delete('secret')],
      ['compareAndSet', () => intoBeta.compareAndSet('secret', null, 'x')],
    ] as const) {
      await assert.rejects(call(), (err: unknown) => {
        assert.ok(err instanceof StoreCommandError, `${what}: ${String(err)}`);
        assert.match(err.message, /NOPERM/, what);
        return true;
      });
    }
    // A plain client with A's login: B's key by name, and the commands that would list keys.
    const raw = new RedisConnection({ url: redis.url, username: alpha.username, password: alpha.password });
    connections.push(raw);
    const refused: [string, (c: RedisConnection['client']) => Promise<unknown>][] = [
      ['HGET on B', (c) => c.hget(betaKey, 'v')],
      ['DEL on B', (c) => c.del(betaKey)],
      ['KEYS', (c) => c.keys('*')],
      ['SCAN', (c) => c.scan('0')],
    ];
    for (const [what, command] of refused) await assert.rejects(raw.run(what, command), /NOPERM/, what);
    assert.equal((await stateAs(beta, 'beta').get('secret'))?.value, 'beta only', 'untouched');
    assert.equal(await stateAs(alpha, 'alpha').incr('own'), 1, "A's own key space is open to A");
  });

  it('keeps the password across reconciles and spec changes', async () => {
    const before = await loginOf('alpha');
    const generation = (await ns.get('alpha'))?.metadata.generation ?? 0;
    await ns.patchSpec('alpha', { env: [{ name: 'GREETING', value: 'hi' }] });
    await eventually(
      async () =>
        (await ns.deployment('alpha'))?.spec.template.spec.containers[0]?.env?.some(
          (e) => e.name === 'GREETING',
        )
          ? true
          : undefined,
      15_000,
      'the new Deployment',
    );
    await eventually(
      async () => ((await ns.get('alpha'))?.status?.observedGeneration === generation + 1 ? true : undefined),
      15_000,
      'the new generation reconciled',
    );
    assert.deepEqual(await loginOf('alpha'), before);
    assert.equal(await stateAs(before, 'alpha').incr('still'), 1, 'the same login works');
  });

  it("refuses to take over a Secret that is not the Function's, and says so", async () => {
    const reply = await plane.request('POST', `/api/v1/namespaces/${ns.name}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'gamma-state' },
      stringData: { password: 'mine, not the controller’s' },
    });
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
    await ns.create('gamma');
    const refused = await ns.untilState('gamma', 'StateSecretConflict');
    assert.equal(refused.status, 'False');
    assert.match(refused.message ?? '', /Secret gamma-state exists and does not belong to this Function/);
    assert.equal((await ns.untilEvent('gamma', 'StateSecretConflict')).type, 'Warning');
    assert.equal(decode((await ns.secret('gamma-state'))?.data.password), 'mine, not the controller’s');
    assert.equal(await redisUser(admin, ns.name, 'gamma'), undefined);
    const deployment = await eventually(() => ns.deployment('gamma'), 15_000, 'the rest deployed');
    assert.equal(
      deployment.spec.template.spec.containers[0]?.env?.some((e) => e.name.startsWith('NIMBUS_STATE_')),
      false,
    );
  });

  it('replaces a Secret an earlier Function of the same name left behind, and a password that is no longer usable', async () => {
    const stale = await plane.request('POST', `/api/v1/namespaces/${ns.name}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'zeta-state',
        ownerReferences: [
          {
            apiVersion: 'nimbus.dev/v1alpha1',
            kind: 'Function',
            name: 'zeta',
            uid: 'a-uid-long-gone',
            controller: true,
          },
        ],
      },
      stringData: { password: 'the-password-of-a-function-long-gone' },
    });
    assert.equal(stale.status, 201, JSON.stringify(stale.body));
    const zeta = await ns.create('zeta');
    await ns.untilState('zeta', 'UserReady');
    const secret = await ns.secret('zeta-state');
    assert.deepEqual(
      secret?.metadata.ownerReferences?.map((o) => o.uid),
      [zeta.metadata.uid],
    );
    const login = await loginOf('zeta');
    assert.notEqual(login.password, 'the-password-of-a-function-long-gone');
    assert.equal(await stateAs(login, 'zeta').incr('n'), 1);

    // A password cut short by hand: the controller writes a new one, sets it on the user, and rolls the pods.
    const revision = async () =>
      (await ns.deployment('zeta'))?.spec.template.metadata.annotations['nimbus.dev/state-credentials'];
    const before = await eventually(revision, 15_000, 'the credentials revision');
    await ns.client.mergePatch(RESOURCES.secrets, ns.name, 'zeta-state', {
      data: { password: Buffer.from('short').toString('base64') },
    });
    await ns.patchSpec('zeta', { env: [{ name: 'NUDGE', value: '1' }] }); // any reconcile
    const renewed = await eventually(
      async () => {
        const now = await loginOf('zeta');
        return now.password !== 'short' && now.password !== login.password ? now : undefined;
      },
      15_000,
      'a new password',
    );
    await eventually(
      async () => ((await revision()) !== before ? true : undefined),
      15_000,
      'the pods to roll',
    );
    await ns.untilState('zeta', 'UserReady');
    assert.equal(await stateAs(renewed, 'zeta').incr('n'), 2, 'the new password logs in');
  });

  it('gives the key space up when state is turned off with deletionPolicy Delete: user, keys and Secret', async () => {
    await ns.create('delta');
    await ns.untilState('delta', 'UserReady');
    await stateAs(await loginOf('delta'), 'delta').set('k', 1);
    // Without Delete the keys stay (test/src/security/controller-state-retention.test.ts).
    await ns.patchSpec('delta', { state: { enabled: false, deletionPolicy: 'Delete' } });
    await ns.untilEvent('delta', 'StateDeleted');
    assert.equal(await redisUser(admin, ns.name, 'delta'), undefined);
    assert.deepEqual(await keysOf(admin, ns.name, 'delta'), []);
    assert.equal(await ns.secret('delta-state'), undefined);
    const fn = await eventually(
      async () => {
        const f = await ns.get('delta');
        return f?.status?.observedGeneration === f?.metadata.generation ? f : undefined;
      },
      15_000,
      'delta reconciled',
    );
    assert.equal(
      (fn.status?.conditions as Condition[]).some((c) => c.type === 'StateReady'),
      false,
    );
    const deployment = await ns.deployment('delta');
    assert.equal(
      deployment?.spec.template.spec.volumes?.some((v) => v.name === 'state-credentials'),
      false,
    );
  });

  it('removes the user, the keys and the Secret when the Function is deleted, then lets it go', async () => {
    assert.ok((await keysOf(admin, ns.name, 'alpha')).length > 0, 'alpha has keys to remove');
    const bystander = await keysOf(admin, ns.name, 'beta');
    await ns.delete('alpha');
    await eventually(
      async () => ((await ns.get('alpha')) === undefined ? true : undefined),
      15_000,
      'alpha gone',
    );
    assert.equal(await redisUser(admin, ns.name, 'alpha'), undefined);
    assert.deepEqual(await keysOf(admin, ns.name, 'alpha'), []);
    assert.equal(await ns.secret('alpha-state'), undefined);
    assert.deepEqual(await keysOf(admin, ns.name, 'beta'), bystander, "another function's keys stay");
    assert.ok(await redisUser(admin, ns.name, 'beta'));
  });
});

describe('function state in a cluster while Redis is away', function () {
  this.timeout(2 * 60_000);
  let plane: ControlPlane;
  let ns: Namespace;
  let redis: RedisServer;
  let admin: RedisStores;
  let running: RunningController;

  before(async () => {
    plane = await sharedControlPlane();
    ns = new Namespace(plane, await freshNamespace(plane, 'state-down'));
    redis = await startRedisServer({ args: ['--requirepass', ADMIN_PASSWORD] });
    const adminUrl = `redis://:${ADMIN_PASSWORD}@127.0.0.1:${redis.port}`;
    admin = createRedisStores(adminUrl);
    running = await startController(plane, ns.name, { NIMBUS_REDIS_URL: adminUrl });
  });

  after(async () => {
    await running?.stop();
    ns?.client.close();
    await admin?.close();
    await redis?.stop();
  });

  it('deploys the rest, says Redis is unreachable on the status and in an Event, and makes the user once Redis is back', async () => {
    await redis.stop();
    await ns.create('patient');
    const down = await ns.untilState('patient', 'RedisUnavailable');
    assert.equal(down.status, 'False');
    assert.match(down.message ?? '', /Redis user could not be set.*Redis is unavailable/);
    assert.equal((await ns.untilEvent('patient', 'RedisUnavailable')).type, 'Warning');
    const deployment = await eventually(
      () => ns.deployment('patient'),
      15_000,
      'the Deployment, deployed anyway',
    );
    assert.ok(
      deployment.spec.template.spec.containers[0]?.env?.some((e) => e.name === 'NIMBUS_STATE_REDIS_USERNAME'),
    );
    assert.ok(await ns.secret('patient-state'), 'the login is ready for when Redis is back');

    await redis.start(); // the same port
    await ns.untilState('patient', 'UserReady', 30_000);
    assert.ok(await redisUser(admin, ns.name, 'patient'));
  });

  it('makes the users again when Redis comes back empty (a restart without an ACL file), without waiting for a resync', async () => {
    await ns.untilState('patient', 'UserReady');
    const login = {
      username: decode((await ns.secret('patient-state'))?.data.username),
      password: decode((await ns.secret('patient-state'))?.data.password),
    };
    await redis.restart();
    // No change to the Function, and the resync is minutes away: the reconnect brings it back.
    const state = openFunctionState({ url: redis.url, ...login, namespace: ns.name, function: 'patient' });
    try {
      const hits = await eventually(
        () => state.state.incr('after-restart').catch(() => undefined),
        20_000,
        'the login to work again',
      );
      assert.equal(hits, 1);
    } finally {
      await state.close();
    }
  });
});

describe('function state in a cluster without NIMBUS_REDIS_URL', function () {
  this.timeout(60_000);
  let ns: Namespace;
  let running: RunningController;

  before(async () => {
    const plane = await sharedControlPlane();
    ns = new Namespace(plane, await freshNamespace(plane, 'state-none'));
    running = await startController(plane, ns.name);
  });
  after(async () => {
    await running?.stop();
    ns?.client.close();
  });

  it('deploys the Function and says its state is not configured, with no finalizer', async () => {
    await ns.create('hopeful');
    const condition = await ns.untilState('hopeful', 'StateNotConfigured');
    assert.equal(condition.status, 'False');
    assert.match(condition.message ?? '', /no NIMBUS_REDIS_URL/);
    assert.ok(await eventually(() => ns.deployment('hopeful'), 15_000, 'the Deployment'));
    assert.equal((await ns.get('hopeful'))?.metadata.finalizers?.includes(FINALIZER) ?? false, false);
    assert.equal(await ns.secret('hopeful-state'), undefined);
  });
});
