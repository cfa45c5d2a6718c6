import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { eventually, send } from '@nimbus/testkit';
import { CallbackReceiver } from '../harness/async-calls.js';
import {
  CONTAINER_FIXTURES_DIR,
  containerFunction,
  functionsFolder,
  inlineFunction,
} from '../harness/fixtures.js';
import { ADMIN_KEY, LocalModeProcess } from '../harness/local-mode-process.js';
import { SCALING_ADMIN_KEY, ScalingCluster } from '../harness/scaling-cluster.js';

/*
 * faas-cli's requests, byte for byte where it matters, as its source makes them (faas-cli
 * c8191b71 with go-sdk 0.2.22 and faas-provider 0.25.10, read and run against a logging server):
 * the management calls carry `Authorization: Basic` after `faas-cli login`, or a bare `Bearer`
 * with no credentials; invoke always names a namespace (openfaas-fn unless told) and never sends
 * credentials; deploy PUTs and POSTs only on 404, and takes only 200 and 202 as success; remove
 * DELETEs with a body and takes 404 as "No existing function"; list and describe fail the whole
 * answer on a createdAt that is not RFC 3339 or a replica count that is not a whole number.
 */

const CLI_AGENT = { 'user-agent': 'faas-cli/0.17.8' };
const INVOKE_AGENT = { 'user-agent': 'faas-cli/0.17.8 (openfaas; linux; amd64)' };
const IMAGE = 'registry.example/container-server:1';
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

const basic = (key: string) => `Basic ${Buffer.from(`admin:${key}`).toString('base64')}`;

interface Target {
  base: string;
  adminKey: string;
  /** The namespace openfaas-fn is read as. */
  namespace: string;
  /** Whether Functions can be written through the API (a cluster: yes; local mode: no). */
  writable: boolean;
  stop(): Promise<void>;
}

interface Status {
  name: string;
  image: string;
  namespace: string;
  replicas: number;
  availableReplicas: number;
  invocationCount: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  createdAt?: string;
  envProcess?: string;
  envVars?: Record<string, string>;
  readOnlyRootFilesystem: boolean;
  spec?: { scale?: { min: number; max: number } };
}

/** The checks faas-cli's decoding makes of one function status: any failure fails its whole list. */
function assertDecodable(status: Status): void {
  assert.equal(typeof status.name, 'string');
  assert.equal(typeof status.image, 'string');
  for (const count of [status.replicas, status.availableReplicas]) {
    assert.ok(Number.isInteger(count) && count >= 0, `a uint64: ${count}`);
  }
  assert.equal(typeof status.invocationCount, 'number');
  assert.ok(
    status.createdAt === undefined || RFC3339.test(status.createdAt),
    `RFC 3339: ${status.createdAt}`,
  );
  assert.equal(typeof status.labels, 'object');
  assert.equal(typeof status.annotations, 'object');
}

/** Reads a followed log stream's JSON lines as they come, until `signal` aborts. */
function followLines(
  url: string,
  authorization: string,
  signal: AbortSignal,
): { lines: Record<string, string>[] } {
  const seen = { lines: [] as Record<string, string>[] };
  const req = request(url, { headers: { ...CLI_AGENT, authorization }, signal }, (res) => {
    let pending = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      pending += chunk;
      for (let newline = pending.indexOf('\n'); newline !== -1; newline = pending.indexOf('\n')) {
        seen.lines.push(JSON.parse(pending.slice(0, newline)) as Record<string, string>);
        pending = pending.slice(newline + 1);
      }
    });
    res.on('error', () => {});
  });
  req.on('error', () => {});
  req.end();
  return seen;
}

function faasCliContract(title: string, start: () => Promise<Target>): void {
  describe(title, function () {
    this.timeout(120_000);
    let target: Target;
    let hooks: CallbackReceiver;
    const cli = (path: string, options: { method?: string; body?: unknown; auth?: string } = {}) => {
      const body = options.body === undefined ? undefined : JSON.stringify(options.body);
      return send(target.base, path, {
        method: options.method ?? 'GET',
        headers: {
          ...CLI_AGENT,
          authorization: options.auth ?? basic(target.adminKey),
          // Go's client gives every body its length, a DELETE's too (Node's would send none).
          ...(body === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }),
        },
        ...(body === undefined ? {} : { body }),
      });
    };
    const list = async (query = '') => {
      const reply = await cli(`/system/functions${query}`);
      assert.equal(reply.status, 200, reply.text);
      const entries = reply.json<Status[]>();
      for (const entry of entries) assertDecodable(entry);
      return entries;
    };

    before(async function () {
      this.timeout(240_000);
      target = await start();
      hooks = await CallbackReceiver.start();
      await eventually(
        async () => ((await list()).find((f) => f.name === 'hello')?.availableReplicas ?? 0) > 0 || undefined,
        60_000,
        'hello to be ready',
      );
    });

    after(async function () {
      this.timeout(60_000);
      await hooks?.close();
      await target?.stop();
    });

    it('login: a GET of /system/functions with Basic admin:<admin key> is 200; a wrong key is 401', async () => {
      assert.equal((await cli('/system/functions')).status, 200);
      const wrong = await cli('/system/functions', { auth: basic('not-the-key-0000000000') });
      assert.equal(wrong.status, 401);
    });

    it('with no credentials (a bare "Authorization: Bearer") the management API is 401, not 400', async () => {
      const reply = await cli('/system/functions', { auth: 'Bearer' });
      assert.equal(reply.status, 401);
      assert.equal(reply.json().code, 'Unauthenticated');
    });

    it('version: /system/info has provider, provider.version and version, none null', async () => {
      const reply = await cli('/system/info');
      assert.equal(reply.status, 200);
      const info = reply.json<{
        provider: { provider: string; orchestration: string; version: { sha: string; release: string } };
        version: { sha: string; release: string };
      }>();
      assert.equal(info.provider.provider, 'nimbus');
      assert.equal(typeof info.provider.orchestration, 'string');
      assert.equal(typeof info.provider.version.sha, 'string');
      assert.match(info.provider.version.release, /^\d+\.\d+\.\d+/);
      assert.equal(info.version.release, info.provider.version.release);
    });

    it('list: every function as OpenFaaS describes one, counting its invocations', async () => {
      const before = (await list()).find((f) => f.name === 'hello');
      assert.ok(before);
      assert.equal(before.namespace, target.namespace);
      assert.match(before.createdAt ?? '', RFC3339, 'faas-cli list -v shows when it was made');
      assert.ok(before.replicas >= 1 && before.availableReplicas >= 1);
      const called = await send(target.base, '/function/hello.openfaas-fn', {
        method: 'POST',
        headers: INVOKE_AGENT,
      });
      assert.equal(called.status, 200, called.text);
      const after = (await list()).find((f) => f.name === 'hello');
      assert.equal(after?.invocationCount, before.invocationCount + 1);
      const scoped = await list('?namespace=openfaas-fn');
      assert.ok(scoped.length > 0 && scoped.every((f) => f.namespace === target.namespace));
    });

    it('describe: GET /system/function/{name}?namespace=openfaas-fn&usage=1, and 404 for none', async () => {
      const reply = await cli('/system/function/hello?namespace=openfaas-fn&usage=1');
      assert.equal(reply.status, 200, reply.text);
      const status = reply.json<Status>();
      assertDecodable(status);
      assert.equal(status.name, 'hello');
      assert.ok(status.availableReplicas > 0, 'faas-cli shows Ready');
      const missing = await cli('/system/function/nothing-here?usage=1');
      assert.equal(missing.status, 404, 'faas-cli prints "No such function"');
    });

    it('invoke: /function/{name}.openfaas-fn with no credentials; --async answers 202 and calls back', async () => {
      const sync = await send(target.base, '/function/hello.openfaas-fn?name=cli', {
        method: 'POST',
        headers: { ...INVOKE_AGENT, 'content-type': 'text/plain' },
        body: 'from faas-cli',
      });
      assert.equal(sync.status, 200, sync.text);
      assert.equal(sync.text, 'Hello, cli!');
      const async = await send(target.base, '/async-function/hello.openfaas-fn?name=later', {
        method: 'POST',
        headers: { ...INVOKE_AGENT, 'content-type': 'text/plain', 'x-callback-url': hooks.url },
        body: '',
      });
      assert.equal(async.status, 202, async.text);
      const id = async.headers['x-call-id'] as string;
      const callback = await eventually(() => hooks.byId.get(id)?.[0], 30_000, 'the callback');
      assert.equal(callback.body, 'Hello, later!');
    });

    it('namespaces: an array of strings naming the namespace openfaas-fn is read as', async () => {
      const reply = await cli('/system/namespaces');
      assert.equal(reply.status, 200);
      const names = reply.json<unknown[]>();
      assert.ok(names.every((n) => typeof n === 'string'));
      assert.ok(names.includes(target.namespace), JSON.stringify(names));
    });

    it('logs: JSON lines as faas-cli reads them (follow=false&tail=-1), and followed as they are written', async () => {
      const called = await send(target.base, '/function/hello.openfaas-fn?name=logged', {
        headers: INVOKE_AGENT,
      });
      assert.equal(called.status, 200);
      const lines = await eventually(
        async () => {
          const reply = await cli('/system/logs?follow=false&name=hello&namespace=openfaas-fn&tail=-1');
          assert.equal(reply.status, 200, reply.text);
          assert.match(String(reply.headers['content-type']), /^application\/x-ndjson/);
          const parsed = reply.text
            .split('\n')
            .filter((l) => l !== '')
            .map((l) => JSON.parse(l) as Record<string, string>);
          return parsed.some((l) => /greeting/.test(l.text ?? '') && /logged/.test(l.text ?? ''))
            ? parsed
            : undefined;
        },
        30_000,
        'the call’s log line',
      );
      for (const line of lines) {
        assert.equal(line.name, 'hello');
        assert.equal(line.namespace, target.namespace);
        assert.equal(typeof line.instance, 'string');
        assert.match(line.timestamp ?? '', RFC3339);
      }
      const two = await cli('/system/logs?follow=false&name=hello&tail=2');
      assert.equal(two.text.split('\n').filter((l) => l !== '').length, 2, 'tail=2 gives the newest two');

      // Followed: the stream stays open, and a line written after it opened arrives on it.
      const stop = new AbortController();
      const seen = followLines(
        `${target.base}/system/logs?follow=true&name=hello&namespace=openfaas-fn&tail=0`,
        basic(target.adminKey),
        stop.signal,
      );
      try {
        const marker = `followed-${Date.now()}`;
        const line = await eventually(
          async () => {
            await send(target.base, `/function/hello.openfaas-fn?name=${marker}`, { headers: INVOKE_AGENT });
            return seen.lines.find((l) => (l.text ?? '').includes(marker));
          },
          30_000,
          'the new line on the followed stream',
        );
        assert.equal(line.name, 'hello');
      } finally {
        stop.abort();
      }
      const unknown = await cli('/system/logs?name=nothing-here&follow=false');
      assert.equal(unknown.status, 404);
      const badSince = await cli('/system/logs?name=hello&since=yesterday');
      assert.equal(badSince.status, 400);
    });

    it('deploy, update, scale and remove: the answers faas-cli takes, or a refusal that says why', async () => {
      const deployment = {
        service: 'cli-made',
        image: IMAGE,
        envProcess: 'python3 index.py',
        envVars: { GREETING: 'deployed by faas-cli' },
        labels: { team: 'payments', 'com.openfaas.scale.min': '1' },
        annotations: { 'example.com/owner': 'ada' },
      };
      const put = await cli('/system/functions', { method: 'PUT', body: deployment });
      if (!target.writable) {
        // Local mode reads its Functions from files: faas-cli prints the reason and exits 1.
        assert.equal(put.status, 405);
        assert.match(put.json().error as string, /local mode reads Functions from the files/);
        const post = await cli('/system/functions', { method: 'POST', body: deployment });
        assert.equal(post.status, 405);
        const remove = await cli('/system/functions', { method: 'DELETE', body: { functionName: 'hello' } });
        assert.equal(remove.status, 405);
        return;
      }
      assert.equal(put.status, 404, 'not there yet: faas-cli creates it with POST');
      const post = await cli('/system/functions', { method: 'POST', body: deployment });
      assert.equal(post.status, 202, post.text);
      const made = await eventually(
        async () => {
          const reply = await send(target.base, '/function/cli-made.openfaas-fn/who', {
            headers: INVOKE_AGENT,
          });
          return reply.status === 200 ? reply : undefined;
        },
        90_000,
        'the deployed image to answer',
      );
      const me = made.json<{ env: Record<string, string>; port: number }>();
      assert.equal(me.env.GREETING, 'deployed by faas-cli');
      assert.equal(me.env.fprocess, 'python3 index.py', 'envProcess reaches the watchdog as fprocess');
      assert.equal(me.port, 8080, "OpenFaaS's watchdog port");
      const described = (await cli('/system/function/cli-made?usage=1')).json<Status>();
      assert.equal(described.image, IMAGE);
      assert.equal(described.envProcess, 'python3 index.py');
      assert.deepEqual(described.envVars, { GREETING: 'deployed by faas-cli' });
      assert.equal(described.labels.team, 'payments');
      assert.equal(described.annotations['example.com/owner'], 'ada');
      assert.equal(described.spec?.scale?.min, 1, 'com.openfaas.scale.min read into spec.scale');

      const update = await cli('/system/functions', {
        method: 'PUT',
        body: { ...deployment, envVars: { GREETING: 'updated' } },
      });
      assert.equal(update.status, 202, update.text);
      await eventually(
        async () => {
          const reply = await send(target.base, '/function/cli-made.openfaas-fn/who', {
            headers: INVOKE_AGENT,
          });
          return reply.status === 200 &&
            reply.json<{ env: Record<string, string> }>().env.GREETING === 'updated'
            ? true
            : undefined;
        },
        90_000,
        'the update to roll out',
      );

      const scaled = await cli('/system/scale-function/cli-made', {
        method: 'POST',
        body: { serviceName: 'cli-made', replicas: 2, namespace: 'openfaas-fn' },
      });
      assert.equal(scaled.status, 202, scaled.text);
      // 202: accepted, written through the API server; a cluster gateway reads it back from its
      // watch of Functions, a moment later.
      const floor = await eventually(
        async () => {
          const status = (await cli('/system/function/cli-made?usage=1')).json<Status>();
          return status.spec?.scale?.min === 2 ? status : undefined;
        },
        10_000,
        'the scale floor to read back as 2',
      );
      assert.equal(floor.spec?.scale?.min, 2);

      const bad = await cli('/system/functions', {
        method: 'POST',
        body: { ...deployment, service: 'Bad_Name' },
      });
      assert.equal(bad.status, 422, bad.text);
      assert.deepEqual(
        (bad.json().fields as { field: string }[]).map((f) => f.field),
        ['service'],
      );

      const removed = await cli('/system/functions', {
        method: 'DELETE',
        body: { functionName: 'cli-made' },
      });
      assert.equal(removed.status, 202, removed.text);
      await eventually(
        async () => ((await cli('/system/function/cli-made?usage=1')).status === 404 ? true : undefined),
        30_000,
        'the function to go',
      );
      const again = await cli('/system/functions', { method: 'DELETE', body: { functionName: 'cli-made' } });
      assert.equal(again.status, 404, 'faas-cli prints "No existing function to remove"');
    });
  });
}

const HELLO = `export default async (event, ctx) => {
  ctx.log.info('greeting', { who: event.query.name ?? 'world' });
  return \`Hello, \${event.query.name ?? 'world'}!\`;
};`;

faasCliContract('faas-cli against local mode', async () => {
  const dir = await functionsFolder({
    'hello.yaml': inlineFunction('hello', HELLO, 'scale: { min: 1 }'),
    'box.yaml': containerFunction('box', 'scale: { min: 0 }'),
  });
  const platform = await LocalModeProcess.start(dir);
  return {
    base: platform.url,
    adminKey: ADMIN_KEY,
    namespace: 'default',
    writable: false,
    stop: async () => {
      await platform.stop();
    },
  };
});

faasCliContract('faas-cli against a cluster (API server, kube-controller-manager, pod runner)', async () => {
  const cluster = await ScalingCluster.start({}, 'faas', {
    images: { [IMAGE]: ['python3', join(CONTAINER_FIXTURES_DIR, 'container-server.py')] },
    // The test's callback receiver listens on loopback, which a cluster's gateway refuses by default.
    gatewayEnv: { NIMBUS_EGRESS_ALLOW: 'loopback' },
    // The handler's info lines are what the logs test reads.
    podEnv: { NIMBUS_LOG_LEVEL: 'info' },
  });
  await cluster.createFunction('hello', {
    handler: 'index.default',
    source: { inline: HELLO },
    scale: { min: 1, max: 2 },
  });
  return {
    base: cluster.gatewayBase,
    adminKey: SCALING_ADMIN_KEY,
    namespace: cluster.namespace,
    writable: true,
    stop: () => cluster.stop(),
  };
});
