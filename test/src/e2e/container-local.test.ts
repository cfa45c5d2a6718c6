import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, send } from '@nimbus/testkit';
import { callReaches, postAsync } from '../harness/async-calls.js';
import { CONTAINER_FIXTURES_DIR, containerFunction, functionsFolder } from '../harness/fixtures.js';
import { ADMIN_KEY, INVOKE_KEY, LocalModeProcess } from '../harness/local-mode-process.js';

const admin = { authorization: `Bearer ${ADMIN_KEY}` };

interface Whoami {
  pid: number;
  port: number;
  cwd: string;
  env: Record<string, string>;
  headers: Record<string, string>;
  body?: string;
}

interface Listed {
  metadata: { name: string };
  status: {
    readyReplicas: number;
    replicas: number;
    conditions: { type: string; status: string; reason?: string; message?: string }[];
  };
}

const BOX = containerFunction(
  'box',
  `env:
  - { name: GREETING, value: hi }
  - { name: READY_AFTER_MS, value: "300" }
readiness: { httpGet: { path: /healthz } }
http: { auth: key }
scale: { min: 1 }`,
);

/**
 * Someone else's HTTP server as a Function in local mode: a Python program from
 * test/fixtures/container-server.py, run as the container contract says (command, source.path,
 * $PORT), with what the gateway gives every function around it.
 */
describe('container functions in local mode: any program that serves HTTP on $PORT', function () {
  this.timeout(60_000);
  let platform: LocalModeProcess;
  let dir: string;

  const list = async () =>
    (await send(platform.url, '/system/functions', { headers: admin })).json<Listed[]>();
  const status = async (name: string) => (await list()).find((f) => f.metadata.name === name)?.status;
  const metric = async (pattern: RegExp) =>
    Number(pattern.exec((await send(platform.url, '/metrics', { headers: admin })).text)?.[1] ?? 0);
  const whoami = async (name: string, headers: Record<string, string> = {}) => {
    const reply = await send(platform.url, `/function/${name}/who`, { headers });
    assert.equal(reply.status, 200, reply.text);
    return reply.json<Whoami>();
  };

  before(async () => {
    dir = await functionsFolder({
      'box.yaml': BOX,
      'sleeper.yaml': containerFunction('sleeper', 'concurrency: 1\nscale: { min: 1, max: 1 }\ntimeout: 20s'),
      'napper.yaml': containerFunction('napper', 'scale: { min: 0, scaleToZeroAfter: 1s }'),
      'ticker.yaml': containerFunction(
        'ticker',
        `scale: { min: 1 }
triggers:
  - schedule: { cron: "* * * * * *", body: '{"tick": true}' }`,
      ),
      'flaky.yaml': containerFunction(
        'flaky',
        'async: { maxAttempts: 2, backoff: { initial: 100ms, max: 100ms } }',
      ),
      'missing.yaml': containerFunction('missing', 'scale: { min: 1 }').replace(
        'command: [python3, container-server.py]',
        'command: [./no-such-program]',
      ),
      'imaged.yaml': `apiVersion: nimbus.dev/v1alpha1
kind: Function
metadata: { name: imaged }
spec: { runtime: container, image: ghcr.io/acme/imaged:1 }
`,
    });
    platform = await LocalModeProcess.start(dir, { NIMBUS_WAKE_TIMEOUT_MS: '3000' });
    await eventually(
      async () => {
        const ready = (await list()).filter((f) => f.status.readyReplicas > 0).map((f) => f.metadata.name);
        return ['box', 'sleeper', 'ticker'].every((n) => ready.includes(n)) ? true : undefined;
      },
      20_000,
      'the container functions with min 1 to be ready',
    );
  });

  after(async () => {
    const code = await platform?.stop();
    assert.equal(code, 0, 'local mode exits 0 on SIGTERM');
    await rm(dir, { recursive: true, force: true });
  });

  it('runs the command in its folder on $PORT, with its env, the call id and traceparent, and never the API key', async () => {
    const me = await whoami('box', {
      authorization: `Bearer ${INVOKE_KEY}`,
      'x-call-id': 'container-call-1',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    assert.equal(me.cwd.replace(/\/$/, ''), CONTAINER_FIXTURES_DIR.replace(/\/$/, ''));
    assert.equal(me.env.PORT, String(me.port));
    assert.equal(me.env.HOST, '127.0.0.1', 'told to listen on loopback, behind the gateway');
    assert.equal(me.env.GREETING, 'hi');
    assert.equal(me.env.NIMBUS_FUNCTION_NAME, 'box');
    assert.equal(me.env.NIMBUS_FUNCTION_NAMESPACE, 'default');
    assert.equal(me.env.NIMBUS_TIMEOUT_MS, '30000');
    assert.match(me.env.NIMBUS_GATEWAY_URL ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(me.env.NIMBUS_HANDLER, undefined, "runtime-node's settings are not its business");
    assert.equal(me.headers['x-call-id'], 'container-call-1');
    assert.equal(me.headers.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    assert.equal(me.headers.authorization, undefined, 'the key was for the gateway');
  });

  it('refuses a caller without a key (http.auth key), and the program never sees the call', async () => {
    const reply = await send(platform.url, '/function/box/who');
    assert.equal(reply.status, 401);
    assert.match(reply.json().error as string, /API key/i);
  });

  it('holds a replica to its concurrency: one in flight, two queued, the next refused 429', async () => {
    const slow = [1, 2, 3].map(() => send(platform.url, '/function/sleeper/slow?ms=1500'));
    await eventually(
      async () =>
        (await metric(/nimbus_gateway_queued_requests\{function="default\/sleeper"\} (\d+)/)) === 2
          ? true
          : undefined,
      10_000,
      'two calls queued behind the one in flight',
    );
    const refused = await send(platform.url, '/function/sleeper/slow?ms=1');
    assert.equal(refused.status, 429);
    assert.equal(refused.json().code, 'ReplicasBusy');
    const replies = await Promise.all(slow);
    assert.deepEqual(
      replies.map((r) => r.status),
      [200, 200, 200],
    );
    // One after another on the one replica: the last waited for the two before it.
    const durations = replies.map((r) => Number(r.headers['x-duration-seconds']));
    assert.ok(Math.max(...durations) >= 4, `queued calls waited their turn: ${durations}`);
  });

  it('scales to zero when idle and wakes on a call, which is held, not refused', async () => {
    await eventually(
      async () => ((await status('napper'))?.replicas === 0 ? true : undefined),
      15_000,
      'napper at zero',
    );
    const reply = await send(platform.url, '/function/napper/who');
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.headers['x-nimbus-cold-start'], 'true');
  });

  it('takes schedule ticks as CloudEvents, with the body', async () => {
    const events = await eventually(
      async () => {
        const seen = (await send(platform.url, '/function/ticker/events')).json<Record<string, string>[]>();
        return seen.length >= 2 ? seen : undefined;
      },
      10_000,
      'two ticks',
    );
    for (const event of events.slice(0, 2)) {
      assert.equal(event['ce-type'], 'dev.nimbus.schedule.tick');
      assert.equal(event['ce-specversion'], '1.0');
      assert.ok(event['ce-id'], 'each tick has an id');
      assert.equal(event.body, '{"tick": true}');
    }
  });

  it('retries a failing async call and dead-letters it with its last error', async () => {
    const reply = await postAsync(platform.url, 'flaky/fail', { 'content-type': 'text/plain' }, 'keep me');
    assert.equal(reply.status, 202, reply.text);
    const id = reply.headers['x-call-id'] as string;
    const failed = await callReaches(platform.url, id, 'failed');
    assert.equal(failed.attempts, 2);
    assert.match(failed.lastError ?? '', /answered 500/);
    const letters = (
      await send(platform.url, '/system/dead-letters?namespace=default&function=flaky', { headers: admin })
    ).json<{ entries: { id: string }[] }>();
    assert.ok(
      letters.entries.some((e) => e.id === id),
      JSON.stringify(letters),
    );
  });

  it('restarts a program that dies', async () => {
    const key = { authorization: `Bearer ${INVOKE_KEY}` };
    const before = (await whoami('box', key)).pid;
    const crash = await send(platform.url, '/function/box/crash', { headers: key });
    assert.equal(crash.status, 502);
    const after = await eventually(
      async () => {
        const reply = await send(platform.url, '/function/box/who', { headers: key });
        return reply.status === 200 ? reply.json<Whoami>().pid : undefined;
      },
      15_000,
      'a new process to answer',
    );
    assert.notEqual(after, before);
  });

  it('rolls out a change and lets the old process finish its call after SIGTERM', async () => {
    const key = { authorization: `Bearer ${INVOKE_KEY}` };
    const old = (await whoami('box', key)).pid;
    const inFlight = send(platform.url, '/function/box/slow?ms=2000', { headers: key });
    await writeFile(join(dir, 'box.yaml'), BOX.replace('value: hi', 'value: bye'));
    const next = await eventually(
      async () => {
        const me = await whoami('box', key);
        return me.env.GREETING === 'bye' ? me : undefined;
      },
      20_000,
      'the new revision to answer',
    );
    assert.notEqual(next.pid, old);
    const finished = await inFlight;
    assert.equal(finished.status, 200, finished.text);
    assert.equal(finished.json().pid, old);
    await platform.waitForLog((l) => l.msg === 'container-server draining' && l.pid === old, 10_000);
    await platform.waitForLog((l) => l.msg === 'container-server drained' && l.pid === old, 10_000);
  });

  it('reports a command that cannot start on the Function, and callers get 503 with why', async () => {
    const ready = await eventually(
      async () => {
        const condition = (await status('missing'))?.conditions.find((c) => c.type === 'Ready');
        return condition?.status === 'False' && /crashed/.test(condition.message ?? '')
          ? condition
          : undefined;
      },
      15_000,
      'missing to report its crashes',
    );
    assert.equal(ready.reason, 'ReplicaFailure');
    const reply = await send(platform.url, '/function/missing');
    assert.equal(reply.status, 503);
    assert.match(reply.json().error as string, /crashed/);
  });

  it('refuses an image in local mode, naming the field and the way out', async () => {
    const line = await platform.waitForLog((l) => /imaged\.yaml/.test(String(l.msg)), 5_000);
    assert.match(
      String(line.msg),
      /spec\.image: local mode runs a container function as a process: give spec\.command/,
    );
    assert.equal(await status('imaged'), undefined);
  });
});
