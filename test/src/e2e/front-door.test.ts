import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { once503Clears } from '../harness/replicas.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/**
 * The README's promise: `npm start` serves the shipped examples. Run through npm itself, in its
 * own process group so the test stops exactly the processes it started.
 */
describe('npm start (the README quick start)', function () {
  this.timeout(90_000);
  let npm: ChildProcess;
  let url: string;
  let stateDir: string;

  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'nimbus-front-door-'));
    npm = spawn('npm', ['start', '--silent'], {
      cwd: ROOT,
      env: { ...process.env, PORT: '0', NIMBUS_STATE_DIR: stateDir },
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: true,
    });
    const lines = createInterface({ input: npm.stdout as NodeJS.ReadableStream });
    url = await new Promise<string>((resolve, reject) => {
      lines.on('line', (line) => {
        if (line.includes('"msg":"gateway listening"')) resolve(JSON.parse(line).url);
      });
      npm.once('exit', (code) => reject(new Error(`npm start exited with ${code}`)));
    });
  });

  after(async () => {
    if (npm?.pid !== undefined && npm.exitCode === null) {
      const exited = new Promise((r) => npm.once('exit', r));
      process.kill(-npm.pid, 'SIGTERM');
      await exited;
    }
    await rm(stateDir, { recursive: true, force: true });
  });

  it('answers GET /function/hello?name=Ada with Ada', async () => {
    const reply = await once503Clears(url, '/function/hello?name=Ada');
    assert.equal(reply.status, 200);
    assert.match(reply.text, /Ada/);
  });

  it('echoes a JSON body with the echo example', async () => {
    const reply = await once503Clears(url, '/function/echo', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"ping":true}',
    });
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.json(), { ping: true });
  });

  it('reads a binary-mode CloudEvent with the order-events example', async () => {
    const reply = await once503Clears(url, '/function/order-events', {
      method: 'POST',
      headers: {
        'ce-specversion': '1.0',
        'ce-id': 'evt-1',
        'ce-source': '/shop',
        'ce-type': 'order.created',
        'content-type': 'application/json',
      },
      body: '{"sku":"A-1"}',
    });
    assert.deepEqual(reply.json(), {
      received: 'evt-1',
      type: 'order.created',
      source: '/shop',
      order: { sku: 'A-1' },
    });
  });
});
