import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FunctionResource } from '@nimbus/api';
import { createLogger } from '@nimbus/api';
import { FINALIZER } from '@nimbus/controller';
import { type FunctionDirectory, StateService } from '@nimbus/gateway';
import { KubeClient, RESOURCES, loadKubeConfig } from '@nimbus/kube';
import { runtimeEntryPath } from '@nimbus/runtime-node';
import { type RedisStores, createRedisStores, stateLimits, stateToken } from '@nimbus/store';
import { type RedisServer, eventually, freePort, send, startRedisServer, stopChild } from '@nimbus/testkit';
import { Registry } from 'prom-client';
import type { ControlPlane } from '../harness/control-plane/control-plane.js';
import { freshNamespace, sharedControlPlane } from '../harness/control-plane/shared.js';
import { type RunningController, startController } from '../harness/controller.js';
import type { Pod, PodContainer } from '../harness/pod-objects.js';
import { containerEnv, materializeVolumes } from '../harness/pod-volumes.js';

const ADMIN_PASSWORD = 'admin-secret-0123456789';
const STATE_KEY = 'the-state-key-of-this-test-0123456789';

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

/** Whether Redis has the function's ACL user (only earlier versions made them). */
async function redisUser(admin: RedisStores, namespace: string, name: string): Promise<boolean> {
  const reply = await admin.connection.run('ACL GETUSER', (c) =>
    c.call('ACL', 'GETUSER', `nimbus-fn:${namespace}:${name}`),
  );
  return reply !== null;
}

async function keysOf(admin: RedisStores, namespace: string, name: string): Promise<string[]> {
  return admin.connection.run('KEYS', (c) => c.keys(`nimbus:state:${namespace}:${name}:*`));
}

describe('function state in a cluster: a token per function for the gateway state service, on the real API server', function () {
  this.timeout(2 * 60_000);
  let plane: ControlPlane;
  let ns: Namespace;
  let redis: RedisServer;
  let admin: RedisStores;
  let running: RunningController;
  let service: StateService;
  const functions = new Map<string, FunctionResource>();
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  const serviceUrl = () => `http://127.0.0.1:${service.address()?.port}`;

  /** The token the controller wrote into the Function's Secret. */
  const tokenOf = async (name: string) => {
    const secret = await eventually(() => ns.secret(`${name}-state`), 15_000, `Secret ${name}-state`);
    return decode(secret.data.token);
  };

  before(async () => {
    plane = await sharedControlPlane();
    ns = new Namespace(plane, await freshNamespace(plane, 'state'));
    redis = await startRedisServer({ args: ['--requirepass', ADMIN_PASSWORD] });
    const adminUrl = `redis://:${ADMIN_PASSWORD}@127.0.0.1:${redis.port}`;
    admin = createRedisStores(adminUrl);
    // The gateway's state service, on the Functions this test made (the gateway reads them from an informer).
    const directory: FunctionDirectory = {
      list: () => [...functions.values()],
      get: (_namespace, name) => functions.get(name),
    };
    service = new StateService(
      { host: '127.0.0.1', port: 0, key: STATE_KEY },
      admin.state,
      directory,
      stateLimits(),
      createLogger({ component: 'state-service' }, 'error'),
      new Registry(),
    );
    await service.listen();
    running = await startController(plane, ns.name, {
      NIMBUS_REDIS_URL: adminUrl,
      NIMBUS_STATE_SERVICE_URL: serviceUrl(),
      NIMBUS_STATE_KEY: STATE_KEY,
    });
  });

  after(async () => {
    await Promise.all(children.map((c) => stopChild(c)));
    await service?.close();
    await running?.stop();
    ns?.client.close();
    await admin?.close();
    await redis?.stop();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  const create = async (name: string, spec: Record<string, unknown> = {}) => {
    const fn = await ns.create(name, spec);
    functions.set(name, fn);
    return fn;
  };

  it('writes the token into a Secret owned by the Function, and binds the Deployment to the state service, not Redis', async () => {
    const fn = await create('alpha');
    const token = await tokenOf('alpha');
    assert.equal(token, stateToken(STATE_KEY, ns.name, 'alpha'));
    const secret = await ns.secret('alpha-state');
    assert.deepEqual(Object.keys(secret?.data ?? {}), ['token']);
    assert.deepEqual(
      secret?.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid]),
      [['Function', 'alpha', fn.metadata.uid]],
    );

    const ready = await ns.untilState('alpha', 'TokenReady');
    assert.equal(ready.status, 'True');
    assert.match(
      ready.message ?? '',
      /state service with the token in Secret alpha-state; the function has no Redis access/,
    );
    assert.equal(await redisUser(admin, ns.name, 'alpha'), false, 'no Redis user is made');
    assert.ok((await ns.get('alpha'))?.metadata.finalizers?.includes(FINALIZER), 'held for the cleanup');

    const deployment = await eventually(() => ns.deployment('alpha'), 15_000, 'the Deployment');
    const pod = deployment.spec.template.spec;
    const env = new Map(pod.containers[0]?.env?.map((e) => [e.name, e]));
    assert.equal(env.get('NIMBUS_STATE_BACKEND')?.value, 'service');
    assert.equal(env.get('NIMBUS_STATE_URL')?.value, serviceUrl());
    assert.equal(env.get('NIMBUS_STATE_TOKEN_FILE')?.value, '/var/nimbus/state/token');
    const text = JSON.stringify(deployment);
    assert.doesNotMatch(text, /redis/i, 'nothing about Redis reaches the pods');
    assert.ok(!text.includes(token) && !text.includes(ADMIN_PASSWORD) && !text.includes(STATE_KEY));
    const volume = pod.volumes?.find((v) => v.name === 'state-credentials')?.secret;
    assert.equal(volume?.secretName, 'alpha-state');
    assert.deepEqual(volume?.items, [{ key: 'token', path: 'token' }]);
  });

  it("runs the Deployment's container as a process: it reads its token from the mounted Secret and counts through the service", async () => {
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

  it('keeps the token across reconciles, and writes it again when it was changed by hand', async () => {
    const before = await tokenOf('alpha');
    const revision = async () =>
      (await ns.deployment('alpha'))?.spec.template.metadata.annotations['nimbus.dev/state-credentials'];
    const firstRevision = await eventually(revision, 15_000, 'the credentials revision');
    await ns.patchSpec('alpha', { env: [{ name: 'GREETING', value: 'hi' }] });
    functions.set('alpha', (await ns.get('alpha')) as FunctionResource);
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
    assert.equal(await tokenOf('alpha'), before);
    assert.equal(await revision(), firstRevision);

    await ns.client.mergePatch(RESOURCES.secrets, ns.name, 'alpha-state', {
      data: { token: Buffer.from('forged-by-hand').toString('base64') },
    });
    await ns.patchSpec('alpha', { env: [{ name: 'NUDGE', value: '1' }] }); // any reconcile
    await eventually(
      async () => ((await tokenOf('alpha')) === before ? true : undefined),
      15_000,
      'the token back',
    );
  });

  it("refuses to take over a Secret that is not the Function's, and says so", async () => {
    const reply = await plane.request('POST', `/api/v1/namespaces/${ns.name}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'gamma-state' },
      stringData: { token: 'mine, not the controller’s' },
    });
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
    await create('gamma');
    const refused = await ns.untilState('gamma', 'StateSecretConflict');
    assert.equal(refused.status, 'False');
    assert.match(refused.message ?? '', /Secret gamma-state exists and does not belong to this Function/);
    assert.equal((await ns.untilEvent('gamma', 'StateSecretConflict')).type, 'Warning');
    assert.equal(decode((await ns.secret('gamma-state'))?.data.token), 'mine, not the controller’s');
    const deployment = await eventually(() => ns.deployment('gamma'), 15_000, 'the rest deployed');
    assert.equal(
      deployment.spec.template.spec.containers[0]?.env?.some((e) => e.name.startsWith('NIMBUS_STATE_')),
      false,
    );
  });

  it("replaces an earlier version's Secret (a Redis login) and removes that version's Redis user", async () => {
    // What an earlier version left: a user with script rights, and its password in the Secret.
    await admin.connection.run('ACL SETUSER', (c) =>
      c.call('ACL', 'SETUSER', `nimbus-fn:${ns.name}:zeta`, 'on', '>old-password-0123456789', '+eval'),
    );
    // State off at first, so the legacy Secret is in place before the controller looks for one.
    const zeta = await create('zeta', { state: { enabled: false } });
    const legacy = await plane.request('POST', `/api/v1/namespaces/${ns.name}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'zeta-state',
        ownerReferences: [
          {
            apiVersion: 'nimbus.dev/v1alpha1',
            kind: 'Function',
            name: 'zeta',
            uid: zeta.metadata.uid,
            controller: true,
          },
        ],
      },
      stringData: { username: `nimbus-fn:${ns.name}:zeta`, password: 'old-password-0123456789' },
    });
    assert.equal(legacy.status, 201, JSON.stringify(legacy.body));
    assert.equal(await redisUser(admin, ns.name, 'zeta'), true);
    await ns.patchSpec('zeta', { state: { enabled: true } });
    functions.set('zeta', (await ns.get('zeta')) as FunctionResource);
    await eventually(
      async () => {
        const secret = await ns.secret('zeta-state');
        return secret?.data.token !== undefined && secret.data.password === undefined ? secret : undefined;
      },
      15_000,
      'the token Secret in place of the login',
    );
    await ns.untilState('zeta', 'TokenReady');
    assert.equal(await redisUser(admin, ns.name, 'zeta'), false, 'the old user is gone');
  });

  it('gives the keys and the Secret up when state is turned off with deletionPolicy Delete', async () => {
    await create('delta');
    await ns.untilState('delta', 'TokenReady');
    await admin.state.scoped(ns.name, 'delta').set('k', 1);
    // Without Delete the keys stay (test/src/security/controller-state-retention.test.ts).
    await ns.patchSpec('delta', { state: { enabled: false, deletionPolicy: 'Delete' } });
    await ns.untilEvent('delta', 'StateDeleted');
    assert.deepEqual(await keysOf(admin, ns.name, 'delta'), []);
    assert.deepEqual(await admin.state.usage(ns.name, 'delta'), { keys: 0, bytes: 0 }, 'the quota count too');
    assert.equal(await ns.secret('delta-state'), undefined);
    // The pods keep the function's token, for ctx.publish alone: from delta-token, with no ctx.state settings.
    const deployment = await eventually(
      async () => {
        const d = await ns.deployment('delta');
        const volume = d?.spec.template.spec.volumes?.find((v) => v.name === 'state-credentials');
        return volume?.secret?.secretName === 'delta-token' ? d : undefined;
      },
      15_000,
      'the pods with the publish token only',
    );
    const env = deployment.spec.template.spec.containers[0]?.env ?? [];
    assert.deepEqual(
      env.filter((e) => e.name.startsWith('NIMBUS_STATE_')),
      [],
    );
    assert.ok(env.some((e) => e.name === 'NIMBUS_EVENTS_TOKEN_FILE'));
    assert.ok((await ns.secret('delta-token')) !== undefined);
  });

  it('removes the keys and the Secret when the Function is deleted, then lets it go', async () => {
    assert.ok((await keysOf(admin, ns.name, 'alpha')).length > 0, 'alpha has keys to remove');
    await admin.state.scoped(ns.name, 'zeta').set('stays', 1);
    await ns.delete('alpha');
    await eventually(
      async () => ((await ns.get('alpha')) === undefined ? true : undefined),
      15_000,
      'alpha gone',
    );
    assert.deepEqual(await keysOf(admin, ns.name, 'alpha'), []);
    assert.equal(await ns.secret('alpha-state'), undefined);
    assert.equal(
      await keysOf(admin, ns.name, 'zeta').then((k) => k.length),
      1,
      "another function's keys stay",
    );
  });
});

describe('function state in a cluster while Redis is away', function () {
  this.timeout(2 * 60_000);
  let ns: Namespace;
  let redis: RedisServer;
  let running: RunningController;

  before(async () => {
    const plane = await sharedControlPlane();
    ns = new Namespace(plane, await freshNamespace(plane, 'state-down'));
    redis = await startRedisServer({ args: ['--requirepass', ADMIN_PASSWORD] });
    running = await startController(plane, ns.name, {
      NIMBUS_REDIS_URL: `redis://:${ADMIN_PASSWORD}@127.0.0.1:${redis.port}`,
      NIMBUS_STATE_SERVICE_URL: 'http://nimbus-gateway-state.nimbus.svc:8081',
      NIMBUS_STATE_KEY: STATE_KEY,
    });
    await redis.stop();
  });

  after(async () => {
    await running?.stop();
    ns?.client.close();
    await redis?.stop();
  });

  it('still gives the function its token and deploys it: only the state service needs Redis', async () => {
    await ns.create('patient');
    const ready = await ns.untilState('patient', 'TokenReady');
    assert.equal(ready.status, 'True');
    const deployment = await eventually(() => ns.deployment('patient'), 15_000, 'the Deployment');
    assert.ok(deployment.spec.template.spec.containers[0]?.env?.some((e) => e.name === 'NIMBUS_STATE_URL'));
  });
});

describe('function state in a cluster without the state service configured', function () {
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
    assert.match(condition.message ?? '', /no NIMBUS_STATE_SERVICE_URL and NIMBUS_STATE_KEY/);
    assert.ok(await eventually(() => ns.deployment('hopeful'), 15_000, 'the Deployment'));
    assert.equal((await ns.get('hopeful'))?.metadata.finalizers?.includes(FINALIZER) ?? false, false);
    assert.equal(await ns.secret('hopeful-state'), undefined);
  });
});
