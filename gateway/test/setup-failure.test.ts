import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResolvedSource } from '@nimbus/api';
import { SourceConfigError } from '@nimbus/sources';
import { Registry } from 'prom-client';
import { LocalTriggerSecrets, secretEnvName } from '../src/sources/local-secrets.js';
import { requireSecrets, setupFailureOf } from '../src/sources/setup-failure.js';
import { SourceHealthBoard } from '../src/sources/source-health.js';

const db = {
  namespace: 'default',
  function: 'orders',
  name: 'db',
  kind: 'postgres',
  spec: { connection: { name: 'shop-db', key: 'url' }, tables: ['orders'] },
} as unknown as ResolvedSource;

const bucket = {
  namespace: 'default',
  function: 'uploads',
  name: 'files',
  kind: 's3',
  spec: { bucket: 'files', credentials: { secret: 'store' } },
} as unknown as ResolvedSource;

/**
 * Local mode says a trigger it cannot set up in the controller's reasons and words
 * (controller/src/sources/source-reconciler.ts, trigger-secrets.ts), not as a disconnection.
 */
describe('setup failures: a trigger stopped by its configuration, in the words a cluster uses', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nimbus-secrets-'));
    await mkdir(join(dir, 'store'));
    await writeFile(join(dir, 'store', 'accessKeyId'), 'AKIA\n');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('a configuration fault is TriggerMisconfigured with the field; a server out of reach is not one', () => {
    assert.deepEqual(setupFailureOf(db, new SourceConfigError('x', 'is a http: URL, not postgres://')), {
      reason: 'TriggerMisconfigured',
      message: 'spec.triggers[db]: is a http: URL, not postgres://',
    });
    assert.equal(setupFailureOf(db, new Error('connect ECONNREFUSED 127.0.0.1:5432')), undefined);
  });

  it('a Secret not given at all is TriggerSecretNotFound; one with another key given, TriggerSecretKeyMissing', async () => {
    const secrets = new LocalTriggerSecrets({}, dir).reader();
    const missing = await requireSecrets(db, secrets).then(
      () => assert.fail('a Secret not given was taken'),
      (err: unknown) => setupFailureOf(db, err),
    );
    assert.deepEqual(missing, {
      reason: 'TriggerSecretNotFound',
      message: `spec.triggers[db].postgres: Secret shop-db key url is not set: give it as NIMBUS_SECRET_SHOP_DB_URL or in ${join(dir, 'shop-db', 'url')}`,
    });
    const partly = await requireSecrets(bucket, secrets).then(
      () => assert.fail('a key not given was taken'),
      (err: unknown) => setupFailureOf(bucket, err),
    );
    assert.equal(partly?.reason, 'TriggerSecretKeyMissing');
    assert.match(
      partly?.message ?? '',
      /^spec\.triggers\[files\]\.s3: Secret store key secretAccessKey is not set/,
    );
    // Given by a variable of the Secret's: the key is what is missing.
    const byEnv = new LocalTriggerSecrets({ [secretEnvName('shop-db', 'user')]: 'app' }, undefined).reader();
    const err = await requireSecrets(db, byEnv).catch((e: unknown) => e);
    assert.equal(setupFailureOf(db, err)?.reason, 'TriggerSecretKeyMissing');
  });

  it('every key given (an optional session token left out) passes', async () => {
    await writeFile(join(dir, 'store', 'secretAccessKey'), 'shh\n');
    await requireSecrets(bucket, new LocalTriggerSecrets({}, dir).reader());
    await requireSecrets(
      db,
      new LocalTriggerSecrets({ [secretEnvName('shop-db', 'url')]: 'postgres://h/d' }, dir).reader(),
    );
  });

  it('the health board keeps a setup failure until the trigger is set up or its reader reports', () => {
    const board = new SourceHealthBoard(new Registry(), () => 5);
    const failure = {
      reason: 'TriggerMisconfigured' as const,
      message: 'spec.triggers[db]: postgres://app:pw@h/d refused',
    };
    board.setup(db, failure);
    assert.deepEqual(board.of('default/orders/db'), {
      kind: 'postgres',
      connected: false,
      lastError: 'spec.triggers[db]: postgres://***@h/d refused',
      events: 0,
      since: 5,
      setup: { reason: 'TriggerMisconfigured', message: 'spec.triggers[db]: postgres://***@h/d refused' },
    });
    board.setup(db, undefined);
    assert.equal(board.of('default/orders/db'), undefined, 'set up: not started is what is known');
    board.setup(db, failure);
    board.report(db, { connected: true });
    assert.equal(board.of('default/orders/db')?.setup, undefined, "a reader's report replaces it");
    board.setup(db, undefined);
    assert.equal(board.of('default/orders/db')?.connected, true, 'a reader’s health is kept');
  });
});
