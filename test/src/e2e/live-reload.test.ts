import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { renameSync } from 'node:fs';
import { mkdir, rm, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
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

/** What `sed -i` and most editors' safe write do: a new file in the same folder, renamed over the old. */
async function replaceByRename(file: string, text: string): Promise<void> {
  const temp = join(dirname(file), `.${basename(file)}.tmp`);
  await writeFile(temp, text);
  renameSync(temp, file);
}

describe('local mode follows files replaced by rename', function () {
  this.timeout(30_000);
  let platform: LocalModeProcess;
  let dir: string;
  const versioned = (name: string, version: string) =>
    inlineFunction(name, `export default async () => ({ version: '${version}' });`);
  const sourced = (version: string) => `export default async () => ({ version: '${version}' });\n`;

  before(async () => {
    dir = await functionsFolder({
      'renamed.yaml': versioned('renamed', 'one'),
      'sedded.yaml': versioned('sedded', 'apple'),
      'recreated.yaml': versioned('recreated', 'first'),
      'sourced.yaml': [
        'apiVersion: nimbus.dev/v1alpha1',
        'kind: Function',
        'metadata:',
        '  name: sourced',
        'spec:',
        '  source:',
        '    path: ./sourced',
        '  handler: index.default',
        '',
      ].join('\n'),
    });
    await mkdir(join(dir, 'sourced'));
    await writeFile(join(dir, 'sourced', 'index.mjs'), sourced('one'));
    platform = await LocalModeProcess.start(dir);
  });

  after(async () => {
    await platform?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Waits until the function answers with this version. */
  const serves = (name: string, version: string) =>
    eventually(
      async () => {
        const reply = await send(platform.url, `/function/${name}`);
        return reply.status === 200 && reply.json<{ version: string }>().version === version
          ? true
          : undefined;
      },
      10_000,
      `${name} to serve version ${version}`,
    );

  it('applies a Function file replaced by rename, and every edit after it', async () => {
    const file = join(dir, 'renamed.yaml');
    await serves('renamed', 'one');
    await replaceByRename(file, versioned('renamed', 'two'));
    await serves('renamed', 'two');
    await replaceByRename(file, versioned('renamed', 'three'));
    await serves('renamed', 'three');
    await writeFile(file, versioned('renamed', 'four'));
    await serves('renamed', 'four');
  });

  it('applies a source file replaced by rename, then edited in place', async () => {
    const file = join(dir, 'sourced', 'index.mjs');
    await serves('sourced', 'one');
    await replaceByRename(file, sourced('two'));
    await serves('sourced', 'two');
    await writeFile(file, sourced('three'));
    await serves('sourced', 'three');
  });

  it('applies `sed -i` edits one after another, and an edit in place after them', async () => {
    const file = join(dir, 'sedded.yaml');
    await serves('sedded', 'apple');
    await promisify(execFile)('sed', ['-i', 's/apple/banana/', file]);
    await serves('sedded', 'banana');
    await promisify(execFile)('sed', ['-i', 's/banana/cherry/', file]);
    await serves('sedded', 'cherry');
    await writeFile(file, versioned('sedded', 'damson'));
    await serves('sedded', 'damson');
  });

  it('applies a file deleted and created again under the same name, and edits to it', async () => {
    const file = join(dir, 'recreated.yaml');
    await serves('recreated', 'first');
    await unlink(file);
    await eventually(
      async () => ((await send(platform.url, '/function/recreated')).status === 404 ? true : undefined),
      10_000,
      'the deleted function to answer 404',
    );
    await writeFile(file, versioned('recreated', 'second'));
    await serves('recreated', 'second');
    await writeFile(file, versioned('recreated', 'third'));
    await serves('recreated', 'third');
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
