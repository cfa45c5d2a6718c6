import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { eventually, send } from '@nimbus/testkit';
import { childrenOf, isPython } from '../harness/child-processes.js';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { ADMIN_KEY, LocalModeProcess } from '../harness/local-mode-process.js';

interface Listed {
  metadata: { name: string };
  status: { replicas: number };
}

const pooled = inlineFunction(
  'pooled',
  `const loadedAt = Date.now();
export default async () => ({ pid: process.pid, greeting: process.env.GREETING, loadedAt });`,
  'env:\n  - name: GREETING\n    value: from-the-spec\nscale:\n  min: 0\n  scaleToZeroAfter: 1s',
);

describe('local mode with a warm pool: a function at zero takes over a process already running', function () {
  this.timeout(60_000);
  let platform: LocalModeProcess;
  let dir: string;

  before(async () => {
    dir = await functionsFolder({ 'pooled.yaml': pooled });
    platform = await LocalModeProcess.start(dir, { NIMBUS_WARM_POOL_SIZE: '2' });
  });

  after(async () => {
    await platform?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const replicas = async () => {
    const reply = await send(platform.url, '/system/functions', {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    return reply.json<Listed[]>().find((f) => f.metadata.name === 'pooled')?.status.replicas;
  };

  it('serves the first request at zero from a pool process, with the function environment, and refills the pool', async () => {
    const pid = platform.pid as number;
    await eventually(
      async () => ((await replicas()) === 0 ? true : undefined),
      15_000,
      'the function at zero',
    );
    // At zero, local mode's children are exactly the pool.
    const pool = await eventually(
      () => {
        const children = childrenOf(pid);
        return children.length === 2 ? children : undefined;
      },
      10_000,
      'a pool of two',
    );
    const reply = await send(platform.url, '/function/pooled');
    assert.equal(reply.status, 200, reply.body.toString());
    assert.equal(reply.headers['x-nimbus-cold-start'], 'true');
    const served = reply.json<{ pid: number; greeting: string }>();
    assert.ok(pool.includes(served.pid), `served by ${served.pid}, a process of the pool ${pool.join(', ')}`);
    assert.equal(served.greeting, 'from-the-spec', "the function's env reached the taken-over process");
    // The pool refills in the background: two idle processes again, besides the replica.
    await eventually(
      () => (childrenOf(pid).filter((c) => c !== served.pid).length === 2 ? true : undefined),
      10_000,
      'the pool to refill',
    );
  });
});

const pooledPython = inlineFunction(
  'pooled-py',
  `import os

def handle(event, ctx):
    return {"pid": os.getpid(), "greeting": os.environ.get("GREETING")}
`,
  'runtime: python3.11\nenv:\n  - name: GREETING\n    value: from-the-spec\nscale:\n  min: 0\n  scaleToZeroAfter: 1s',
);

describe('local mode with a warm pool: a Python function at zero takes over a runtime-python process', function () {
  this.timeout(60_000);
  let platform: LocalModeProcess;
  let dir: string;

  before(async () => {
    dir = await functionsFolder({ 'pooled-py.yaml': pooledPython });
    platform = await LocalModeProcess.start(dir, { NIMBUS_WARM_POOL_SIZE: '2' });
  });

  after(async () => {
    await platform?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps a pool of runtime-python processes beside runtime-node’s and serves the first call at zero from it', async () => {
    const pid = platform.pid as number;
    const pythons = () => childrenOf(pid).filter(isPython);
    // At zero, local mode's children are the two pools: two of each runtime.
    const pool = await eventually(
      () => {
        const children = childrenOf(pid);
        const python = children.filter(isPython);
        return children.length === 4 && python.length === 2 ? python : undefined;
      },
      20_000,
      'two runtime-node and two runtime-python pool processes',
    );
    // Each has said it listens (a member that has not is passed over for a new process).
    await eventually(
      () =>
        platform.logs.filter((l) => l.msg === 'listening' && l.pool === true).length >= 4 ? true : undefined,
      20_000,
      'four pool processes listening',
    );
    const reply = await eventually(
      async () => {
        const r = await send(platform.url, '/function/pooled-py');
        return r.status === 200 ? r : undefined;
      },
      20_000,
      'pooled-py to answer',
    );
    const served = reply.json<{ pid: number; greeting: string }>();
    assert.ok(pool.includes(served.pid), `served by ${served.pid}, a process of the pool ${pool.join(', ')}`);
    assert.equal(served.greeting, 'from-the-spec', "the function's env reached the taken-over process");
    await eventually(
      () => (pythons().filter((c) => c !== served.pid).length === 2 ? true : undefined),
      20_000,
      'the Python pool to refill',
    );
  });
});
