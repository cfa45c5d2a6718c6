import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { derivePoolToken } from '@nimbus/api/pool-token';
import { runtimeEntryPath } from '../src/entry-path.js';
import { ensureBundle } from './support/runtime-process.js';

const INIT = path.join(path.dirname(runtimeEntryPath()), 'pool-token-init.cjs');
const UID = '3f0c5a52-8d1e-4c53-9d57-0b8c3c1e2a61';

describe('pool-token-init.cjs (a pool pod’s init container)', () => {
  let dir: string;
  const run = (env: Record<string, string>) =>
    spawnSync(process.execPath, [INIT], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });

  before(ensureBundle);
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'nimbus-pool-init-'));
    writeFileSync(path.join(dir, 'key'), Buffer.alloc(32, 9));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes HMAC(key, pod UID), owner-only, as the controller derives it', () => {
    const tokenFile = path.join(dir, 'token');
    const result = run({
      NIMBUS_POOL_KEY_FILE: path.join(dir, 'key'),
      NIMBUS_POD_UID: UID,
      NIMBUS_POOL_TOKEN_FILE: tokenFile,
    });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(readFileSync(tokenFile, 'utf8'), derivePoolToken(Buffer.alloc(32, 9), UID));
    assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
    assert.notEqual(
      derivePoolToken(Buffer.alloc(32, 9), UID),
      derivePoolToken(Buffer.alloc(32, 9), `${UID}x`),
    );
  });

  const bad: [string, (dir: string) => Record<string, string>, string][] = [
    [
      'no pod UID',
      (d) => ({ NIMBUS_POOL_KEY_FILE: path.join(d, 'key'), NIMBUS_POOL_TOKEN_FILE: path.join(d, 't') }),
      'NIMBUS_POD_UID',
    ],
    [
      'a UID that is not one',
      (d) => ({
        NIMBUS_POOL_KEY_FILE: path.join(d, 'key'),
        NIMBUS_POD_UID: '../x',
        NIMBUS_POOL_TOKEN_FILE: path.join(d, 't'),
      }),
      'NIMBUS_POD_UID',
    ],
    [
      'no key file',
      (d) => ({
        NIMBUS_POOL_KEY_FILE: path.join(d, 'none'),
        NIMBUS_POD_UID: UID,
        NIMBUS_POOL_TOKEN_FILE: path.join(d, 't'),
      }),
      'NIMBUS_POOL_KEY_FILE',
    ],
    [
      'a token file that cannot be written',
      (d) => ({
        NIMBUS_POOL_KEY_FILE: path.join(d, 'key'),
        NIMBUS_POD_UID: UID,
        NIMBUS_POOL_TOKEN_FILE: path.join(d, 'no/such/dir/t'),
      }),
      'NIMBUS_POOL_TOKEN_FILE',
    ],
  ];
  for (const [name, env, key] of bad) {
    it(`exits 1 naming ${key} for ${name}`, () => {
      const result = run(env(dir));
      assert.equal(result.status, 1);
      const line = JSON.parse(result.stderr.trim()) as { level: string; key: string; msg: string };
      assert.equal(line.level, 'error');
      assert.equal(line.key, key);
      assert.match(line.msg, /^invalid configuration: /);
    });
  }
});
