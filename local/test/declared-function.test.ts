import 'reflect-metadata';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, systemClock } from '@nimbus/api';
import { RouteTable, declaredFunction } from '@nimbus/gateway';
import { loadLocalConfig } from '../src/config.js';
import { LocalPlatform } from '../src/local-platform.js';
import type { ProcessBackend } from '../src/process/process-backend.js';
import { RecordingBackend } from './support/recording-backend.js';

const FUNCTION = `apiVersion: nimbus.dev/v1alpha1
kind: Function
metadata:
  name: resize
spec:
  source:
    inline: "export default () => 'one'"
  state: { enabled: true }
`;

describe('a Function as declared, for the per-event paths (LocalPlatform)', () => {
  let dir: string;
  let state: string;
  let platform: LocalPlatform;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nimbus-declared-'));
    state = await mkdtemp(join(tmpdir(), 'nimbus-declared-state-'));
    await writeFile(join(dir, 'resize.yaml'), FUNCTION);
    platform = new LocalPlatform(
      loadLocalConfig({ NIMBUS_STATE_DIR: state }, [dir]),
      new RouteTable(),
      new RecordingBackend() as unknown as ProcessBackend,
      createLogger({}, 'error', () => {}),
      systemClock,
    );
    await platform.reload();
  });
  after(async () => {
    await platform.shutdown();
    await rm(dir, { recursive: true, force: true });
    await rm(state, { recursive: true, force: true });
  });

  it('is the file’s current spec, with no status composed, and nothing for a Function not there', async () => {
    await writeFile(join(dir, 'resize.yaml'), FUNCTION.replace("'one'", "'two'"));
    await platform.reload();
    const declared = declaredFunction(platform, 'default', 'resize');
    assert.equal(declared?.spec.source?.inline, "export default () => 'two'");
    assert.equal(declared.spec.state?.enabled, true);
    assert.equal(declared.status, undefined, 'no status is composed for it');
    assert.deepEqual(declared.spec, platform.get('default', 'resize')?.spec, 'the spec get() shows');
    assert.equal(declaredFunction(platform, 'default', 'other'), undefined);
    assert.equal(declaredFunction(platform, 'elsewhere', 'resize'), undefined);
  });

  it('falls back to get() for a directory with no cheaper way', () => {
    const full = platform.get('default', 'resize');
    const asked: string[] = [];
    const directory = {
      get: (namespace: string, name: string) => {
        asked.push(`${namespace}/${name}`);
        return full;
      },
    };
    assert.equal(declaredFunction(directory, 'default', 'resize'), full);
    assert.deepEqual(asked, ['default/resize']);
  });
});
