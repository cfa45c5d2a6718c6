import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, send } from '@nimbus/testkit';
import { FINAL, admin, callReaches, postAsync } from '../harness/async-calls.js';
import { childrenOf, isPython, listeningPorts } from '../harness/child-processes.js';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { LocalModeProcess } from '../harness/local-mode-process.js';

/**
 * Attack: take over a local-mode warm-pool replica by POSTing code to its `/_/specialise` from
 * loopback, directly or by making the gateway do it (an async call's X-Callback-Url pointing at
 * the pool port, with the echoed body as the specialise command). Defended: a pool replica in
 * local mode has no token and takes specialise over its supervisor's IPC channel only.
 */
describe('security: a local-mode warm-pool replica cannot be specialised over HTTP', function () {
  this.timeout(60_000);
  let platform: LocalModeProcess;
  let dir: string;
  let markers: string;
  /** The idle pool replica under attack: its port. */
  let port: number;

  const REFUSED = {
    error: 'this replica is specialised by its supervisor only; it accepts no specialise over HTTP',
  };

  /** A specialise command whose code, if it ever ran, would leave `marker` behind. */
  const attack = (marker: string) => ({
    env: { NIMBUS_FUNCTION_NAME: 'evil', NIMBUS_HANDLER: 'index.default' },
    files: {
      'index.mjs': `import { writeFileSync } from 'node:fs';
writeFileSync(${JSON.stringify(marker)}, 'the attacker\\'s code ran');
export default async () => 'owned';`,
    },
  });

  const generic = async (at: number) => {
    const ready = await send(`http://127.0.0.1:${at}`, '/_/ready');
    return ready.status === 503 && ready.json<{ status: string }>().status === 'unspecialised';
  };

  before(async () => {
    markers = await mkdtemp(join(tmpdir(), 'nimbus-pool-attack-'));
    dir = await functionsFolder({
      // Answers with the request body as it came: the callback carries it to the callback URL.
      'echo.yaml': inlineFunction(
        'echo',
        'export default async (event) => event.query.pid ? { pid: process.pid } : event.body;',
        'scale:\n  min: 1',
      ),
      'victim.yaml': inlineFunction(
        'victim',
        'export default async () => ({ fn: "victim", pid: process.pid });',
        'scale:\n  min: 0\n  scaleToZeroAfter: 1s',
      ),
    });
    platform = await LocalModeProcess.start(dir, { NIMBUS_WARM_POOL_SIZE: '1' });
    await eventually(
      async () => {
        const reply = await send(platform.url, '/system/functions', { headers: admin });
        const listed = reply.json<{ metadata: { name: string }; status: { replicas: number } }[]>();
        return listed.find((f) => f.metadata.name === 'victim')?.status.replicas === 0 ? true : undefined;
      },
      20_000,
      'the victim function at zero',
    );
    // The attacker scans loopback; the test reads the pool replicas' own "listening" lines, and
    // takes the one that is idle now (echo may have taken an earlier one).
    port = await eventually(
      async () => {
        const ports = platform.logs
          .filter((l) => l.msg === 'listening' && l.pool === true)
          .map((l) => l.port);
        for (const candidate of ports.reverse()) {
          if (typeof candidate === 'number' && (await generic(candidate))) return candidate;
        }
        return undefined;
      },
      20_000,
      'an idle pool replica',
    );
  });

  after(async () => {
    await platform?.stop();
    await rm(dir, { recursive: true, force: true });
    await rm(markers, { recursive: true, force: true });
  });

  it('refuses code POSTed to /_/specialise from loopback: 403 JSON, with or without a guessed token; the code never runs', async () => {
    const marker = join(markers, 'direct');
    for (const authorization of [undefined, 'Bearer 0123456789abcdef0123456789abcdef']) {
      const reply = await send(`http://127.0.0.1:${port}`, '/_/specialise', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(authorization === undefined ? {} : { authorization }),
        },
        body: JSON.stringify(attack(marker)),
      });
      assert.equal(reply.status, 403, reply.text);
      assert.match(String(reply.headers['content-type']), /^application\/json/);
      assert.deepEqual(reply.json(), REFUSED);
    }
    assert.ok(await generic(port), 'the replica is still generic');
    assert.equal(existsSync(marker), false, 'the attacker’s code never ran');
  });

  it('refuses the same command sent by the gateway as an async call’s callback to the pool port', async () => {
    const marker = join(markers, 'callback');
    const refusalsBefore = platform.logs.filter((l) => l.msg === 'specialise request refused').length;
    const reply = await eventually(
      async () => {
        const r = await postAsync(
          platform.url,
          'echo',
          {
            'content-type': 'application/json',
            'x-callback-url': `http://127.0.0.1:${port}/_/specialise`,
          },
          JSON.stringify(attack(marker)),
        );
        // 503 only while the in-memory queue is being set up, a moment after start.
        return r.status === 503 ? undefined : r;
      },
      5_000,
      'the queue to take calls',
    );
    // The gateway may refuse such a callback URL outright (4xx); if it takes the call, the
    // callback is sent (or refused by the gateway's egress policy) once the call is done.
    assert.ok(reply.status === 202 || (reply.status >= 400 && reply.status < 500), reply.text);
    if (reply.status === 202) {
      const id = String(reply.headers['x-call-id']);
      const done = await callReaches(platform.url, id, 'succeeded');
      assert.ok(FINAL.has(done.status));
      // The gateway is done with the callback once it logs its outcome for this call.
      await platform.waitForLog((l) => l.callId === id && /callback/i.test(String(l.msg)), 20_000);
    }
    const refusedAtThePool = platform.logs
      .filter((l) => l.msg === 'specialise request refused')
      .slice(refusalsBefore);
    // Sent or not, the pool replica took nothing: every specialise that reached it was a 403.
    for (const line of refusedAtThePool) assert.equal(line.statusCode, 403);
    process.stdout.write(`      (the callback reached the pool: ${refusedAtThePool.length > 0})\n`);
    assert.ok(!platform.logs.some((l) => l.msg === 'specialising' && l.function === 'evil'));
    assert.ok(await generic(port), 'the replica is still generic');
    assert.equal(existsSync(marker), false, 'the attacker’s code never ran');
  });

  it('the attacked replica still takes on the next real function at zero', async () => {
    const reply = await send(platform.url, '/function/victim');
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.headers['x-nimbus-cold-start'], 'true');
    // The pool had one idle replica, the one attacked: it serves the victim now.
    const direct = await send(`http://127.0.0.1:${port}`, '/');
    assert.equal(direct.status, 200, direct.text);
    assert.deepEqual(direct.json(), reply.json());
    assert.equal(direct.json<{ fn: string }>().fn, 'victim');
    for (const marker of ['direct', 'callback']) assert.equal(existsSync(join(markers, marker)), false);
    // The platform carried on: the echo function answers as before.
    const echo = await send(platform.url, '/function/echo?pid=1');
    assert.equal(echo.status, 200, echo.text);
    assert.equal(typeof echo.json<{ pid: number }>().pid, 'number');
  });

  it('refuses the same attack on a runtime-python pool replica, which then takes on the real Python function', async () => {
    // The first Python function makes local mode fill runtime-python's pool.
    await writeFile(
      join(dir, 'pyvictim.yaml'),
      inlineFunction(
        'pyvictim',
        'import os\n\ndef handle(event, ctx):\n    return {"fn": "pyvictim", "pid": os.getpid()}\n',
        'runtime: python3.11\nscale:\n  min: 0\n  scaleToZeroAfter: 1s',
      ),
    );
    await eventually(
      async () => {
        const reply = await send(platform.url, '/system/functions', { headers: admin });
        const listed = reply.json<{ metadata: { name: string }; status: { replicas: number } }[]>();
        return listed.find((f) => f.metadata.name === 'pyvictim')?.status.replicas === 0 ? true : undefined;
      },
      20_000,
      'pyvictim at zero',
    );
    // At zero, local mode's Python children are the pool: the attacker finds its port.
    const pythonPort = await eventually(
      async () => {
        const ports = childrenOf(platform.pid as number)
          .filter(isPython)
          .flatMap(listeningPorts);
        for (const candidate of ports) if (await generic(candidate)) return candidate;
        return undefined;
      },
      20_000,
      'an idle runtime-python pool replica',
    );
    const marker = join(markers, 'python');
    const evil = {
      env: { NIMBUS_FUNCTION_NAME: 'evil', NIMBUS_HANDLER: 'main.handle' },
      files: {
        'main.py': `open(${JSON.stringify(marker)}, "w").write("the attacker's code ran")\n\ndef handle(event, ctx):\n    return "owned"\n`,
      },
    };
    for (const authorization of [undefined, 'Bearer 0123456789abcdef0123456789abcdef']) {
      const reply = await send(`http://127.0.0.1:${pythonPort}`, '/_/specialise', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(authorization === undefined ? {} : { authorization }),
        },
        body: JSON.stringify(evil),
      });
      assert.equal(reply.status, 403, reply.text);
      assert.deepEqual(reply.json(), REFUSED);
    }
    assert.ok(await generic(pythonPort), 'the replica is still generic');
    const reply = await eventually(
      async () => {
        const r = await send(platform.url, '/function/pyvictim');
        return r.status === 200 ? r : undefined;
      },
      20_000,
      'pyvictim to answer',
    );
    const direct = await send(`http://127.0.0.1:${pythonPort}`, '/');
    assert.equal(direct.status, 200, direct.text);
    assert.deepEqual(direct.json(), reply.json(), 'the attacked replica serves the real function');
    assert.equal(existsSync(marker), false, 'the attacker’s code never ran');
  });
});
