import 'reflect-metadata';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, systemClock } from '@nimbus/api';
import { RouteTable } from '@nimbus/gateway';
import { loadLocalConfig } from '../src/config.js';
import { LocalPlatform } from '../src/local-platform.js';
import type { ProcessBackend } from '../src/process/process-backend.js';
import { LOCAL_VERSIONS_MESSAGE } from '../src/versions-note.js';
import { RecordingBackend } from './support/recording-backend.js';

const VERSIONED = `apiVersion: nimbus.dev/v1alpha1
kind: Function
metadata:
  name: shop
spec:
  source:
    inline: "export default () => 'one'"
  versions: { keep: 3 }
  traffic:
    - { latestVersion: true, percent: 100, tag: live }
`;

describe('a versioned Function in local mode (LocalPlatform, in-memory process backend)', () => {
  let dir: string;
  let state: string;
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
    await rm(state, { recursive: true, force: true });
  });

  it('runs the current spec only, says so once in the log and in its status, and shares no calls', async () => {
    dir = await mkdtemp(join(tmpdir(), 'nimbus-versions-'));
    state = await mkdtemp(join(tmpdir(), 'nimbus-versions-state-'));
    await writeFile(join(dir, 'shop.yaml'), VERSIONED);
    const lines: string[] = [];
    const log = createLogger({}, 'warn', (line) => lines.push(line));
    const routes = new RouteTable();
    const backend = new RecordingBackend();
    const config = loadLocalConfig({ NIMBUS_STATE_DIR: state }, [dir]);
    const platform = new LocalPlatform(
      config,
      routes,
      backend as unknown as ProcessBackend,
      log,
      systemClock,
    );
    await platform.reload();
    // A change of code: still one replica set for the Function, never one per version.
    await writeFile(join(dir, 'shop.yaml'), VERSIONED.replace("'one'", "'two'"));
    await platform.reload();
    assert.deepEqual(
      [...new Set(backend.applied.map((s) => s.key))],
      ['default/shop'],
      'one replica set, for the current spec',
    );
    assert.equal(backend.applied.length, 2, 'the new code replaced the old');
    const fn = platform.get('default', 'shop');
    assert.ok(fn?.status !== undefined);
    assert.equal(fn.status.latestVersion, undefined);
    assert.equal(fn.status.traffic, undefined);
    assert.deepEqual(
      fn.status.conditions?.find((c) => c.type === 'Versions'),
      { type: 'Versions', status: 'False', reason: 'NeedsCluster', message: LOCAL_VERSIONS_MESSAGE },
    );
    assert.equal(lines.filter((l) => l.includes('versions need a cluster')).length, 1, lines.join(''));
    assert.equal(routes.versions.of('default/shop'), undefined, 'its calls are not shared');
    assert.deepEqual(
      routes.list().map((r) => r.key),
      ['default/shop'],
    );
    await platform.shutdown();
  });
});
