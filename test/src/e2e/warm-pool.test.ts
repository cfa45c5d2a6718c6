import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { eventually, send } from '@nimbus/testkit';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { ADMIN_KEY, LocalModeProcess } from '../harness/local-mode-process.js';

interface Listed {
  metadata: { name: string };
  status: { replicas: number };
}

/** The processes local mode has started and still runs: its replicas and its warm pool. */
function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text === '' ? [] : text.split(/\s+/).map(Number);
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
