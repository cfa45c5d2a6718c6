import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, send } from '@nimbus/testkit';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { ADMIN_KEY, LocalModeProcess } from '../harness/local-mode-process.js';

const greeter = (greeting: string) => inlineFunction('greeter', `export default async () => '${greeting}';`);

/** A function whose code is the watched folder itself: the state folder's files are in its tree. */
const FOLDER_FUNCTION = `apiVersion: nimbus.dev/v1alpha1
kind: Function
metadata:
  name: folder
spec:
  source:
    path: .
  handler: index.default
`;

/** How long "nothing reloads" is watched for: three of the watcher's one-second polls. */
const QUIET_WINDOW_MS = 3500;

describe('local mode with its state folder inside the watched folder', function () {
  this.timeout(60_000);
  let platform: LocalModeProcess | undefined;
  let dir: string;

  beforeEach(async () => {
    dir = await functionsFolder({
      'folder.yaml': FOLDER_FUNCTION,
      'index.mjs': "export default async () => 'from the folder';\n",
      'greeter.yaml': greeter('hello'),
    });
    platform = await LocalModeProcess.start(dir, {
      NIMBUS_STATE_DIR: join(dir, '.nimbus'),
      NIMBUS_LOG_LEVEL: 'debug',
    });
  });

  afterEach(async () => {
    await platform?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const answer = async (name: string) => {
    const reply = await send((platform as LocalModeProcess).url, `/function/${name}`);
    return reply.status === 200 ? reply.text : undefined;
  };
  const generations = async () => {
    const reply = await send((platform as LocalModeProcess).url, '/system/functions', {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    const list = reply.json<{ metadata: { name: string; generation: number } }[]>();
    return Object.fromEntries(list.map((fn) => [fn.metadata.name, fn.metadata.generation]));
  };
  const count = (match: (l: { msg?: string; function?: unknown }) => boolean) =>
    (platform as LocalModeProcess).logs.filter(match).length;
  const reloads = () => count((l) => l.msg === 'the functions folder changed; reading it again');
  const changed = (name: string) =>
    count((l) => l.msg === 'function changed' && l.function === `default/${name}`);

  /** Samples the functions' generations until `ms` have passed, a bounded window, never a sleep. */
  const observe = async (ms: number) => {
    const seen: Record<string, number>[] = [];
    const until = Date.now() + ms;
    while (Date.now() < until) {
      seen.push(await generations());
      await new Promise((r) => setTimeout(r, 100));
    }
    return seen;
  };

  it('does not reload for its own writes, and reloads once for a real edit', async () => {
    // The positive signal: both functions serve, so the inline code has been written.
    assert.equal(await eventually(() => answer('greeter'), 15_000, 'greeter to serve'), 'hello');
    assert.equal(await eventually(() => answer('folder'), 15_000, 'folder to serve'), 'from the folder');

    const quiet = await observe(QUIET_WINDOW_MS);
    assert.ok(quiet.length >= 10, `sampled ${quiet.length} times`);
    for (const sample of quiet) assert.deepEqual(sample, { folder: 1, greeter: 1 }, 'no new revision');
    assert.equal(reloads(), 0, 'no reload at all while nobody edits');
    assert.equal(changed('greeter') + changed('folder'), 0);

    // A real edit: greeter.yaml is also in the folder function's tree, so both roll once.
    await writeFile(join(dir, 'greeter.yaml'), greeter('bonjour'));
    await eventually(
      async () => ((await answer('greeter')) === 'bonjour' ? true : undefined),
      15_000,
      'the edit',
    );
    const after = await observe(QUIET_WINDOW_MS);
    for (const sample of after) assert.deepEqual(sample, { folder: 2, greeter: 2 }, 'one new revision each');
    assert.equal(changed('greeter'), 1);
    assert.equal(changed('folder'), 1);
    // A burst of events and a poll may each see one save; never more than that.
    assert.ok(reloads() >= 1 && reloads() <= 2, `${reloads()} reloads for one save`);
  });
});
