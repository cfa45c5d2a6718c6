/**
 * The init container of a warm-pool pod (`node runtime-node/dist/pool-token-init.cjs`): derives the
 * pod's own specialise token from its namespace's pool key (a Secret mounted into this container
 * alone) and the pod's UID (downward API), and writes it where the runtime container takes it from
 * at start (a memory-backed emptyDir). So the pod's env holds no token, the runtime container never
 * sees the key, and a token that leaks from one pod opens no other. A bundle of its own: the
 * runtime's start never loads node:crypto for it.
 *
 *   NIMBUS_POOL_KEY_FILE    the pool key (raw bytes)
 *   NIMBUS_POD_UID          metadata.uid, from the downward API
 *   NIMBUS_POOL_TOKEN_FILE  where the token goes (the runtime container's setting of the same name)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { derivePoolToken } from '@nimbus/api/pool-token';

const UID = /^[0-9a-f-]{8,64}$/i;

function required(key: string): string {
  const value = process.env[key]?.trim();
  if (value === undefined || value === '') fail(key, `${key} must be set`);
  return value;
}

function fail(key: string, message: string): never {
  process.stderr.write(
    `${JSON.stringify({ level: 'error', time: new Date().toISOString(), msg: `invalid configuration: ${message}`, key })}\n`,
  );
  process.exit(1);
}

function main(): void {
  const keyFile = required('NIMBUS_POOL_KEY_FILE');
  const uid = required('NIMBUS_POD_UID');
  const tokenFile = required('NIMBUS_POOL_TOKEN_FILE');
  if (!UID.test(uid)) fail('NIMBUS_POD_UID', 'NIMBUS_POD_UID must be the pod UID (fieldRef metadata.uid)');
  let key: Buffer;
  try {
    key = readFileSync(keyFile);
  } catch (error) {
    fail('NIMBUS_POOL_KEY_FILE', `cannot read the pool key: ${(error as Error).message}`);
  }
  if (key.length < 16) fail('NIMBUS_POOL_KEY_FILE', 'the pool key must hold at least 16 bytes');
  try {
    // Owner-only; written again if the pod restarts and its init container runs once more.
    writeFileSync(tokenFile, derivePoolToken(key, uid), { mode: 0o600 });
  } catch (error) {
    fail('NIMBUS_POOL_TOKEN_FILE', `cannot write the pool token: ${(error as Error).message}`);
  }
}

main();
