import 'reflect-metadata';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '@nimbus/api';
import { loadClusterConfig } from '@nimbus/gateway/cluster/config';
import { type ClusterGateway, createClusterGateway } from '@nimbus/gateway/cluster/container';
import { type Reply, eventually, freePort, send } from '@nimbus/testkit';
import { stopChild } from '@nimbus/testkit';
import type { ApiReply, ControlPlane } from '../harness/control-plane/control-plane.js';
import { freshNamespace, sharedControlPlane } from '../harness/control-plane/shared.js';
import { REPORT_TOKEN } from '../harness/controller.js';
import { type RuntimeReplica, routableAddress, startRuntimeReplica } from '../harness/runtime-replica.js';

const ADMIN_KEY = 'admin-key-for-the-cluster-suite';
const INVOKE_KEY = 'invoke-key-for-the-cluster-suite';
const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
const quiet = createLogger({}, 'error', () => {});
const FUNCTIONS = '/apis/nimbus.dev/v1alpha1/namespaces';
const SLICES = '/apis/discovery.k8s.io/v1/namespaces';

/** Answers with which replica it is; `?ms=` makes it take that long. */
const REPLICA_CODE = `export default async (event) => {
  const ms = Number(event.query.ms ?? 0);
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
  return { replica: process.env.REPLICA };
};`;

interface Fn {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string };
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
}

const functionDoc = (name: string, spec: Record<string, unknown> = {}): Fn => ({
  apiVersion: 'nimbus.dev/v1alpha1',
  kind: 'Function',
  metadata: { name },
  spec: { source: { inline: 'export default () => "the replicas run the suite\'s own code"' }, ...spec },
});

type Conditions = { ready?: boolean | null; serving?: boolean; terminating?: boolean };

/** A slice as the EndpointSlice controller would write it for the function's Service. */
function sliceDoc(
  namespace: string,
  name: string,
  fn: string,
  replica: RuntimeReplica,
  conditions?: Conditions,
  labels: Record<string, string> = { 'app.kubernetes.io/managed-by': 'nimbus', 'nimbus.dev/function': fn },
) {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace, labels: { ...labels, 'kubernetes.io/service-name': fn } },
    addressType: replica.host.includes(':') ? 'IPv6' : 'IPv4',
    ports: [{ name: 'http', port: replica.port, protocol: 'TCP' }],
    endpoints: [{ addresses: [replica.host], ...(conditions === undefined ? {} : { conditions }) }],
  };
}

function expectStatus<T>(reply: ApiReply<T>, ...statuses: number[]): ApiReply<T> {
  assert.ok(
    statuses.includes(reply.status),
    `API server answered ${reply.status}: ${JSON.stringify(reply.body)}`,
  );
  return reply;
}

/** Creates or replaces an object on the API server, as the test's stand-in for the controllers. */
async function put(plane: ControlPlane, collection: string, object: { metadata: { name: string } }) {
  const path = `${collection}/${object.metadata.name}`;
  const current = await plane.request<{ metadata: { resourceVersion: string } }>('GET', path);
  if (current.status === 404) return expectStatus(await plane.request('POST', collection, object), 201);
  const versioned = {
    ...object,
    metadata: { ...object.metadata, resourceVersion: current.body.metadata.resourceVersion },
  };
  return expectStatus(await plane.request('PUT', path, versioned), 200);
}

async function inProcessGateway(
  kubeconfigPath: string,
  namespace: string,
): Promise<{ base: string; cluster: ClusterGateway }> {
  const config = loadClusterConfig({
    KUBECONFIG: kubeconfigPath,
    NIMBUS_WATCH_NAMESPACES: namespace,
    NIMBUS_API_KEYS: `admin:${ADMIN_KEY},invoke:${INVOKE_KEY}`,
    NIMBUS_REPORT_TOKEN: REPORT_TOKEN,
    HOST: '127.0.0.1',
    PORT: '0',
    // Requests without a ready replica are held this long, then answered 503 with the reason.
    NIMBUS_WAKE_TIMEOUT_MS: '300',
  });
  const cluster = createClusterGateway(config, { logger: quiet });
  const address = await cluster.server.listen();
  return { base: `http://127.0.0.1:${address.port}`, cluster };
}

const replicaOf = (reply: Reply) => reply.json<{ replica: string }>().replica;

describe('the gateway in a cluster (real API server, EndpointSlices written by the test)', function () {
  this.timeout(120_000);
  let plane: ControlPlane;
  let ns: string;
  let base: string;
  let cluster: ClusterGateway;
  const replicas: Record<string, RuntimeReplica> = {};
  const host = routableAddress('IPv4');

  const invoke = (fn: string, query = '') => send(base, `/function/${fn}.${ns}${query}`);
  const createFunction = async (name: string, spec?: Record<string, unknown>) =>
    expectStatus(await plane.request('POST', `${FUNCTIONS}/${ns}/functions`, functionDoc(name, spec)), 201);
  const putSlice = (name: string, fn: string, replica: RuntimeReplica, conditions?: Conditions) =>
    put(plane, `${SLICES}/${ns}/endpointslices`, sliceDoc(ns, name, fn, replica, conditions));
  const deleteSlice = async (name: string) =>
    expectStatus(await plane.request('DELETE', `${SLICES}/${ns}/endpointslices/${name}`), 200);
  /** Invokes until the answer has `status` (and satisfies `test`), and returns it. */
  const answer = (fn: string, status: number, test: (r: Reply) => boolean = () => true) =>
    eventually(
      async () => {
        const reply = await invoke(fn);
        return reply.status === status && test(reply) ? reply : undefined;
      },
      20_000,
      `${fn} to answer ${status}`,
    );

  before(async () => {
    if (host === undefined) throw new Error('this machine has no non-loopback IPv4 address for replicas');
    plane = await sharedControlPlane();
    ns = await freshNamespace(plane, 'gateway');
    for (const name of ['a', 'b', 'c']) {
      replicas[name] = await startRuntimeReplica({
        host,
        code: REPLICA_CODE,
        name: 'replica',
        namespace: ns,
        env: { REPLICA: name },
      });
    }
    ({ base, cluster } = await inProcessGateway(plane.kubeconfigPath, ns));
    cluster.start();
    await eventually(
      async () => ((await send(base, '/readyz')).status === 200 ? true : undefined),
      30_000,
      'the gateway to be ready',
    );
  });

  after(async () => {
    await cluster?.stop(1000);
    await Promise.all(Object.values(replicas).map((r) => r.stop()));
  });

  it('answers 503 naming the reason until a slice lists a ready endpoint, then serves', async () => {
    await createFunction('hello');
    const waiting = await answer('hello', 503);
    assert.equal(waiting.json().code, 'FunctionUnavailable');
    assert.match(String(waiting.json().error), /the function has no ready replicas yet/);

    // The controller's word on why, through the status subresource, becomes the 503's reason.
    const message = 'spec.source.inline is 1200000 bytes; a ConfigMap holds at most 1048576';
    const fn = expectStatus(await plane.request<Fn>('GET', `${FUNCTIONS}/${ns}/functions/hello`), 200).body;
    const withStatus = {
      ...fn,
      status: { conditions: [{ type: 'Ready', status: 'False', reason: 'SourceTooLarge', message }] },
    };
    expectStatus(await plane.request('PUT', `${FUNCTIONS}/${ns}/functions/hello/status`, withStatus), 200);
    const explained = await answer('hello', 503, (r) => String(r.json().error).includes(message));
    assert.match(String(explained.headers['content-type']), /^application\/json/);

    await putSlice('hello-1', 'hello', replicas.a as RuntimeReplica, { ready: true });
    const served = await answer('hello', 200);
    assert.equal(replicaOf(served), 'a');
  });

  it('sends nothing to not-ready or terminating endpoints, nor to slices that are not Nimbus’s', async () => {
    await createFunction('picky');
    const { a, b, c } = replicas as Record<'a' | 'b' | 'c', RuntimeReplica>;
    await putSlice('picky-b', 'picky', b, { ready: false });
    await putSlice('picky-c', 'picky', c, { ready: false, serving: true, terminating: true });
    await put(
      plane,
      `${SLICES}/${ns}/endpointslices`,
      sliceDoc(
        ns,
        'picky-other',
        'picky',
        c,
        { ready: true },
        { 'app.kubernetes.io/managed-by': 'someone-else' },
      ),
    );
    // Written last: once it serves, the gateway has seen the slices before it (one ordered watch).
    await putSlice('picky-a', 'picky', a, { ready: true });
    await answer('picky', 200);
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const reply = await invoke('picky');
      assert.equal(reply.status, 200);
      seen.add(replicaOf(reply));
    }
    assert.deepEqual([...seen], ['a']);

    await putSlice('picky-b', 'picky', b, { ready: true });
    await answer('picky', 200, (r) => replicaOf(r) === 'b');
  });

  it('uses endpoints spread over two slices; without slices it answers 503; without the Function, 404', async () => {
    await createFunction('spread');
    await putSlice('spread-1', 'spread', replicas.a as RuntimeReplica);
    await putSlice('spread-2', 'spread', replicas.b as RuntimeReplica, { ready: null });
    await eventually(
      async () => {
        const seen = new Set<string>();
        for (let i = 0; i < 6; i++) {
          const reply = await invoke('spread');
          if (reply.status === 200) seen.add(replicaOf(reply));
        }
        return seen.size === 2 ? true : undefined;
      },
      20_000,
      'both replicas to take requests',
    );

    await deleteSlice('spread-1');
    await answer('spread', 200);
    await eventually(
      async () => {
        for (let i = 0; i < 6; i++) {
          const reply = await invoke('spread');
          if (reply.status !== 200 || replicaOf(reply) !== 'b') return undefined;
        }
        return true;
      },
      20_000,
      'only b to take requests once a’s slice is gone',
    );

    await deleteSlice('spread-2');
    const unavailable = await answer('spread', 503);
    assert.equal(unavailable.json().code, 'FunctionUnavailable');

    expectStatus(await plane.request('DELETE', `${FUNCTIONS}/${ns}/functions/spread`), 200);
    const gone = await answer('spread', 404);
    assert.equal(gone.json().code, 'FunctionNotFound');
  });

  it('reaches a replica listed by an IPv6 address', async function () {
    const v6 = routableAddress('IPv6');
    if (v6 === undefined) this.skip();
    const replica = await startRuntimeReplica({
      host: v6 as string,
      code: REPLICA_CODE,
      name: 'six',
      namespace: ns,
      env: { REPLICA: 'six' },
    });
    try {
      await createFunction('six');
      await putSlice('six-1', 'six', replica);
      assert.equal(replicaOf(await answer('six', 200)), 'six');
    } finally {
      await replica.stop();
    }
  });

  describe('/system/functions', () => {
    const path = (name = '') => `/system/functions${name === '' ? '' : `/${name}`}?namespace=${ns}`;
    const post = (body: unknown, headers: Record<string, string> = admin) =>
      send(base, path(), { method: 'POST', headers, body: JSON.stringify(body) });
    const stored = async (name: string) =>
      (await plane.request<Fn>('GET', `${FUNCTIONS}/${ns}/functions/${name}`)).status;
    const storedNames = async () =>
      (await plane.request<{ items: Fn[] }>('GET', `${FUNCTIONS}/${ns}/functions`)).body.items.map(
        (f) => f.metadata.name,
      );

    it('creates: 201 with the stored object, which the API server has and GET then shows', async () => {
      const reply = await post(functionDoc('made', { timeout: '5s' }));
      assert.equal(reply.status, 201, reply.text);
      const created = reply.json<Fn>();
      assert.ok(created.metadata.uid, 'the object the API server returned');
      assert.equal(created.metadata.namespace, ns);
      assert.equal(created.spec.concurrency, 50, 'with the CRD defaults applied by the API server');
      assert.equal(reply.headers.location, `/system/functions/made?namespace=${ns}`);
      assert.equal(await stored('made'), 200);
      const got = await eventually(
        async () => {
          const r = await send(base, path('made'), { headers: admin });
          return r.status === 200 ? r.json<Fn>() : undefined;
        },
        15_000,
        'GET to show the new Function',
      );
      assert.equal(got.spec.timeout, '5s');
      assert.equal(
        (got.metadata as Record<string, unknown>).managedFields,
        undefined,
        'bookkeeping left out',
      );
      const listed = (await send(base, path(), { headers: admin })).json<Fn[]>();
      assert.ok(listed.some((f) => f.metadata.name === 'made'));
      // And it is routed: no replica, so a 503 that says why, not a 404.
      assert.equal((await answer('made', 503)).json().code, 'FunctionUnavailable');
    });

    const refused: [string, Fn, string][] = [
      [
        'scale.min above scale.max',
        functionDoc('bad-scale', { scale: { min: 3, max: 1 } }),
        'spec.scale.min',
      ],
      ['a name that is not an RFC 1035 label', functionDoc('1-not-a-label'), 'metadata.name'],
      ['a misspelt field', functionDoc('bad-typo', { timout: '10s' }), 'spec.timout'],
    ];
    for (const [what, body, field] of refused) {
      it(`refuses ${what}: 422 naming ${field}, and stores nothing`, async () => {
        const reply = await post(body);
        assert.equal(reply.status, 422, reply.text);
        const problem = reply.json<{ code: string; error: string; fields: { field: string }[] }>();
        assert.equal(problem.code, 'InvalidFunction');
        assert.ok(
          problem.fields.some((f) => f.field === field),
          JSON.stringify(problem.fields),
        );
        assert.ok(!(await storedNames()).includes(body.metadata.name));
      });
    }

    it("passes on the API server's own refusal as 422 with its fields", async () => {
      const body = {
        ...functionDoc('bad-label'),
        metadata: { name: 'bad-label', labels: { 'not a key!': 'x' } },
      };
      const reply = await post(body);
      assert.equal(reply.status, 422, reply.text);
      const problem = reply.json<{ error: string; fields: { field: string }[] }>();
      assert.match(problem.error, /bad-label/);
      assert.ok(
        problem.fields.some((f) => f.field.startsWith('metadata.labels')),
        JSON.stringify(problem.fields),
      );
      assert.equal(await stored('bad-label'), 404);
    });

    it('refuses a body that is not a JSON object with 400 JSON', async () => {
      for (const body of ['[]', '"fn"', '{"spec":', '']) {
        const reply = await send(base, path(), { method: 'POST', headers: admin, body });
        assert.equal(reply.status, 400, `${JSON.stringify(body)}: ${reply.text}`);
        assert.equal(reply.json().code, 'MalformedRequest');
      }
    });

    it('answers 409 to a second create of the same name', async () => {
      assert.equal((await post(functionDoc('twice'))).status, 201);
      const again = await post(functionDoc('twice'));
      assert.equal(again.status, 409);
      assert.equal(again.json().code, 'AlreadyExists');
    });

    it('replaces: 200 with a current resourceVersion, 409 with a stale one, and last-write without one', async () => {
      const created = (await post(functionDoc('changing'))).json<Fn>();
      const first = created.metadata.resourceVersion as string;
      const replace = (body: Fn) =>
        send(base, path('changing'), { method: 'PUT', headers: admin, body: JSON.stringify(body) });
      const ok = await replace({
        ...functionDoc('changing', { timeout: '7s' }),
        metadata: { name: 'changing', resourceVersion: first },
      });
      assert.equal(ok.status, 200, ok.text);
      assert.notEqual(ok.json<Fn>().metadata.resourceVersion, first);
      const stale = await replace({
        ...functionDoc('changing', { timeout: '9s' }),
        metadata: { name: 'changing', resourceVersion: first },
      });
      assert.equal(stale.status, 409, stale.text);
      assert.equal(stale.json().code, 'Conflict');
      const unconditional = await replace(functionDoc('changing', { concurrency: 3 }));
      assert.equal(unconditional.status, 200, unconditional.text);
      const now = (await plane.request<Fn>('GET', `${FUNCTIONS}/${ns}/functions/changing`)).body;
      assert.equal(now.spec.concurrency, 3);
      assert.equal(now.spec.timeout, '30s', 'a replace, not a merge: the 7s is gone');

      const missing = await send(base, path('never-made'), {
        method: 'PUT',
        headers: admin,
        body: JSON.stringify(functionDoc('never-made')),
      });
      assert.equal(missing.status, 404);
    });

    it('deletes: 202, then the API server no longer has it, and a second delete is 404', async () => {
      assert.equal((await post(functionDoc('doomed'))).status, 201);
      const reply = await send(base, path('doomed'), { method: 'DELETE', headers: admin });
      assert.equal(reply.status, 202);
      await eventually(async () => ((await stored('doomed')) === 404 ? true : undefined), 15_000, 'deletion');
      await eventually(
        async () =>
          (await send(base, path('doomed'), { headers: admin })).status === 404 ? true : undefined,
        15_000,
        'GET to forget it',
      );
      const again = await send(base, path('doomed'), { method: 'DELETE', headers: admin });
      assert.equal(again.status, 404);
    });

    it('needs an admin key, and changes nothing without one', async () => {
      const body = functionDoc('sneaky');
      assert.equal((await post(body, { 'content-type': 'application/json' })).status, 401);
      assert.equal((await post(body, { authorization: `Bearer ${INVOKE_KEY}` })).status, 403);
      const del = await send(base, path('made'), {
        method: 'DELETE',
        headers: { authorization: `Bearer ${INVOKE_KEY}` },
      });
      assert.equal(del.status, 403);
      assert.equal(await stored('sneaky'), 404);
    });

    it('refuses namespaces this gateway does not watch', async () => {
      const reply = await send(base, '/system/functions?namespace=elsewhere', {
        method: 'POST',
        headers: admin,
        body: JSON.stringify(functionDoc('lost')),
      });
      assert.equal(reply.status, 400);
      assert.equal(reply.json().code, 'NamespaceNotWatched');
    });
  });
});

describe('the gateway in a cluster: readiness and the API server’s refusals', function () {
  this.timeout(120_000);
  let plane: ControlPlane;
  let dir: string;
  const started: ClusterGateway[] = [];

  before(async () => {
    plane = await sharedControlPlane();
    dir = await mkdtemp(join(tmpdir(), 'nimbus-gateway-kubeconfig-'));
  });

  after(async () => {
    for (const c of started) await c.stop(1000);
    await rm(dir, { recursive: true, force: true });
  });

  /** A kubeconfig for the plane with another server address or user token. */
  async function kubeconfig(name: string, change: { server?: string; token?: string }): Promise<string> {
    const config = plane.kubeconfig() as {
      clusters: { cluster: { server: string } }[];
      users: { user: { token: string } }[];
    };
    const [cluster] = config.clusters;
    const [user] = config.users;
    if (cluster === undefined || user === undefined) throw new Error('the plane kubeconfig changed shape');
    if (change.server !== undefined) cluster.cluster.server = change.server;
    if (change.token !== undefined) user.user.token = change.token;
    const file = join(dir, name);
    await writeFile(file, JSON.stringify(config));
    return file;
  }

  async function gateway(kubeconfigPath: string, namespace: string) {
    const g = await inProcessGateway(kubeconfigPath, namespace);
    started.push(g.cluster);
    return g;
  }

  it('/readyz is 503 until the first lists are in, then 200', async () => {
    const ns = await freshNamespace(plane, 'readyz');
    const { base, cluster } = await gateway(plane.kubeconfigPath, ns);
    const before = await send(base, '/readyz');
    assert.equal(before.status, 503);
    assert.match(String(before.json().reason), /waiting for the first list of Functions and EndpointSlices/);
    cluster.start();
    await eventually(
      async () => ((await send(base, '/readyz')).status === 200 ? true : undefined),
      20_000,
      '/readyz to turn 200',
    );
  });

  it('answers 503 "unreachable" when the API server does not answer, and stays not ready', async () => {
    const closed = await kubeconfig('unreachable', { server: `https://127.0.0.1:${await freePort()}` });
    const { base, cluster } = await gateway(closed, 'default');
    cluster.start();
    const reply = await send(base, '/system/functions?namespace=default', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify(functionDoc('nowhere')),
    });
    assert.equal(reply.status, 503, reply.text);
    assert.equal(reply.json().code, 'KubernetesUnavailable');
    assert.match(String(reply.json().error), /the Kubernetes API is unreachable/);
    assert.equal((await send(base, '/readyz')).status, 503);
  });

  it("answers 502 naming the missing permission when the gateway's service account may only read", async () => {
    const ns = await freshNamespace(plane, 'rbac');
    const base = `/api/v1/namespaces/${ns}/serviceaccounts`;
    expectStatus(
      await plane.request('POST', base, {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: 'gateway' },
      }),
      201,
    );
    expectStatus(
      await plane.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'read-only' },
        rules: [
          { apiGroups: ['nimbus.dev'], resources: ['functions'], verbs: ['get', 'list', 'watch'] },
          { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
        ],
      }),
      201,
    );
    expectStatus(
      await plane.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'read-only' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-only' },
        subjects: [{ kind: 'ServiceAccount', name: 'gateway', namespace: ns }],
      }),
      201,
    );
    const token = expectStatus(
      await plane.request<{ status: { token: string } }>('POST', `${base}/gateway/token`, {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 3600 },
      }),
      201,
    ).body.status.token;
    const { base: url, cluster } = await gateway(await kubeconfig('read-only', { token }), ns);
    cluster.start();
    await eventually(
      async () => ((await send(url, '/readyz')).status === 200 ? true : undefined),
      20_000,
      'a read-only gateway to be ready: reading is all it needs for that',
    );
    const reply = await send(url, `/system/functions?namespace=${ns}`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify(functionDoc('denied')),
    });
    assert.equal(reply.status, 502, reply.text);
    assert.equal(reply.json().code, 'KubernetesForbidden');
    assert.match(
      String(reply.json().error),
      /service account lacks the permission.*cannot create resource "functions"/,
    );
  });
});

describe('gateway/dist/src/cluster/main.js as a process', function () {
  this.timeout(120_000);
  const entry = fileURLToPath(import.meta.resolve('@nimbus/gateway/cluster/main'));
  let plane: ControlPlane;
  const children: ChildProcess[] = [];
  let replica: RuntimeReplica | undefined;

  before(async () => {
    plane = await sharedControlPlane();
  });

  after(async () => {
    for (const child of children) await stopChild(child);
    await replica?.stop();
  });

  function start(env: Record<string, string>): {
    child: ChildProcess;
    lines: () => string[];
    exited: Promise<number | null>;
  } {
    const child = spawn(process.execPath, [entry], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr?.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, lines: () => out.split('\n').filter((l) => l !== ''), exited };
  }

  /** The port the gateway reports in its `gateway listening` line (it listens on PORT=0). */
  const listeningPort = (lines: () => string[]) =>
    eventually(
      () =>
        lines()
          .map((l) => JSON.parse(l) as { msg?: string; port?: number })
          .find((l) => l.msg === 'gateway listening')?.port,
      15_000,
      'the gateway process to listen',
    );

  /** Runs `body`; when it fails, the gateway's log goes into the error. */
  async function withLog(lines: () => string[], body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (err) {
      throw new Error(`${(err as Error).message}\ngateway log:\n${lines().join('\n')}`, { cause: err });
    }
  }

  it('serves from the cluster, finishes a call in flight on SIGTERM, and exits 0', async () => {
    const host = routableAddress('IPv4');
    if (host === undefined) throw new Error('this machine has no non-loopback IPv4 address for replicas');
    const ns = await freshNamespace(plane, 'gwproc');
    const slow = await startRuntimeReplica({
      host,
      code: REPLICA_CODE,
      name: 'slow',
      namespace: ns,
      env: { REPLICA: 'p' },
    });
    replica = slow;
    const gateway = start({
      KUBECONFIG: plane.kubeconfigPath,
      PORT: '0',
      HOST: '127.0.0.1',
      NIMBUS_API_KEYS: `admin:${ADMIN_KEY}`,
      NIMBUS_REPORT_TOKEN: REPORT_TOKEN,
      NIMBUS_WATCH_NAMESPACES: ns,
      NIMBUS_SHUTDOWN_DELAY_MS: '1000',
    });
    await withLog(gateway.lines, async () => {
      const base = `http://127.0.0.1:${await listeningPort(gateway.lines)}`;
      await eventually(
        async () => ((await send(base, '/readyz').catch(() => undefined))?.status === 200 ? true : undefined),
        30_000,
        'the gateway process to be ready',
      );
      const created = await send(base, `/system/functions?namespace=${ns}`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify(functionDoc('slow')),
      });
      assert.equal(created.status, 201, created.text);
      await put(plane, `${SLICES}/${ns}/endpointslices`, sliceDoc(ns, 'slow-1', 'slow', slow));
      await eventually(
        async () => ((await send(base, `/function/slow.${ns}`)).status === 200 ? true : undefined),
        20_000,
        'the function to be served',
      );

      const inFlight = send(base, `/function/slow.${ns}?ms=1500`);
      await eventually(
        async () =>
          (await send(base, '/metrics', { headers: admin })).text.includes(
            `nimbus_gateway_inflight_requests{function="${ns}/slow"} 1`,
          )
            ? true
            : undefined,
        10_000,
        'the slow call to be in flight',
      );
      gateway.child.kill('SIGTERM');
      // Not ready at once, but still serving new calls while the endpoints catch up.
      const readyz = await eventually(
        async () => {
          const r = await send(base, '/readyz');
          return r.status === 503 ? r : undefined;
        },
        900,
        '/readyz to turn 503 after SIGTERM',
      );
      assert.match(String(readyz.json().reason), /shutting down/);
      assert.equal(
        (await send(base, `/function/slow.${ns}`)).status,
        200,
        'served during the shutdown delay',
      );
      const reply = await inFlight;
      assert.equal(reply.status, 200);
      assert.equal(replicaOf(reply), 'p');
      assert.equal(await gateway.exited, 0);
      const logs = gateway.lines().map((l) => JSON.parse(l) as { msg: string });
      assert.ok(
        logs.some((l) => l.msg === 'stopped'),
        JSON.stringify(logs.map((l) => l.msg)),
      );
    });
  });

  it('exits 1 with one JSON line naming the key when the configuration is bad', async () => {
    const gateway = start({
      KUBECONFIG: plane.kubeconfigPath,
      NIMBUS_WATCH_NAMESPACES: 'team,Not_A_Namespace',
    });
    assert.equal(await gateway.exited, 1);
    const lines = gateway.lines();
    assert.equal(lines.length, 1, lines.join('\n'));
    const line = JSON.parse(lines[0] as string) as { level: string; key: string; msg: string };
    assert.equal(line.level, 'error');
    assert.equal(line.key, 'NIMBUS_WATCH_NAMESPACES');
    assert.match(line.msg, /Not_A_Namespace/);
  });
});
