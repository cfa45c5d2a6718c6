import assert from 'node:assert/strict';
import { rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, send } from '@nimbus/testkit';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { ADMIN_KEY, LocalModeProcess, alive } from '../harness/local-mode-process.js';

const greeter = (greeting: string) =>
  inlineFunction('greeter', `export default async () => ({ greeting: '${greeting}', pid: process.pid });`);

describe('local mode applies file changes without a restart', function () {
  this.timeout(30_000);
  let platform: LocalModeProcess;
  let dir: string;

  // Each case edits the folder (one stops local mode), so each starts from its own folder and process.
  beforeEach(async () => {
    dir = await functionsFolder({ 'greeter.yaml': greeter('hello') });
    platform = await LocalModeProcess.start(dir);
  });

  afterEach(async () => {
    await platform?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const greeting = async () => {
    const reply = await send(platform.url, '/function/greeter');
    return reply.status === 200 ? reply.json<{ greeting: string; pid: number }>() : undefined;
  };

  it('serves the first version', async () => {
    const first = await eventually(greeting, 10_000, 'the first version');
    assert.equal(first.greeting, 'hello');
  });

  it('rolls an edited function to a new replica, and the old one goes away', async () => {
    const before = await eventually(greeting, 10_000, 'the first version');
    await writeFile(join(dir, 'greeter.yaml'), greeter('bonjour'));
    const after = await eventually(
      async () => ((await greeting())?.greeting === 'bonjour' ? greeting() : undefined),
      10_000,
      'the edited version',
    );
    assert.notEqual(after.pid, before.pid);
    await eventually(() => (alive(before.pid) ? undefined : true), 10_000, 'the old replica to exit');
  });

  it('keeps the last good version while the file is invalid, and says which field is wrong', async () => {
    const serving = await eventually(greeting, 10_000, 'a serving version');
    await writeFile(join(dir, 'greeter.yaml'), greeter('hola').replace('spec:', 'spec:\n  concurrency: 0'));
    const logged = await platform.waitForLog(
      (l) => l.level === 'error' && /greeter\.yaml: spec\.concurrency: must be >= 1/.test(String(l.msg)),
      5000,
    );
    assert.ok(logged);
    await platform.waitForLog(
      (l) => l.msg === 'keeping the last good version while its file has errors',
      5000,
    );
    const still = await greeting();
    assert.equal(still?.greeting, serving.greeting);
    assert.equal(still?.pid, serving.pid);
  });

  it('keeps the old revision serving when the new one fails to load', async () => {
    const serving = await eventually(
      async () => ((await greeting())?.greeting === 'hello' ? greeting() : undefined),
      10_000,
      'a valid version',
    );
    await writeFile(
      join(dir, 'greeter.yaml'),
      inlineFunction('greeter', "export default async () => { throw new Error('unreachable') ) };"),
    );
    await platform.waitForLog(
      (l) => l.msg === 'handler failed to load' && l.function === 'default/greeter',
      10_000,
    );
    for (let i = 0; i < 5; i++) {
      const reply = await greeting();
      assert.equal(reply?.greeting, 'hello', 'the last good revision answers');
      assert.equal(reply?.pid, serving.pid);
    }
    const status = (
      await send(platform.url, '/system/functions/greeter', {
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      })
    ).json<{ status: { conditions: { status: string; message: string }[] } }>().status;
    assert.equal(status.conditions[0]?.status, 'False', 'the status says the newest revision is failing');
    assert.match(status.conditions[0]?.message ?? '', /handler failed to load/);
  });

  it('adds a function from a new file and removes one whose file is deleted', async () => {
    await writeFile(
      join(dir, 'added.yaml'),
      inlineFunction('added', "export default async () => 'new here';"),
    );
    const added = await eventually(
      async () => {
        const reply = await send(platform.url, '/function/added');
        return reply.status === 200 ? reply.text : undefined;
      },
      10_000,
      'the added function',
    );
    assert.equal(added, 'new here');
    await unlink(join(dir, 'added.yaml'));
    await eventually(
      async () => ((await send(platform.url, '/function/added')).status === 404 ? true : undefined),
      10_000,
      'the removed function to answer 404',
    );
  });

  it('stops every replica it started when it stops', async () => {
    const { pid } = await eventually(greeting, 10_000, 'a serving version');
    assert.equal(alive(pid), true);
    assert.equal(await platform.stop(), 0);
    assert.equal(alive(pid), false, 'a replica outlived local mode');
  });
});

describe('replicas of a local mode that dies', function () {
  this.timeout(30_000);

  it('exit by themselves when local mode is killed without a chance to stop them', async () => {
    const dir = await functionsFolder({ 'greeter.yaml': greeter('hello') });
    const platform = await LocalModeProcess.start(dir);
    try {
      const { pid } = await eventually(
        async () => {
          const reply = await send(platform.url, '/function/greeter');
          return reply.status === 200 ? reply.json<{ pid: number }>() : undefined;
        },
        10_000,
        'a serving replica',
      );
      process.kill(platform.pid as number, 'SIGKILL');
      await eventually(() => (alive(pid) ? undefined : true), 10_000, 'the orphaned replica to exit');
    } finally {
      await platform.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
