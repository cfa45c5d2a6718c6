import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type FunctionResource,
  type ResolvedSource,
  createLogger,
  sourceKey,
  sourceTriggersOf,
} from '@nimbus/api';
import type { SourceEvent } from '@nimbus/sources';
import { MemoryClaimStore } from '@nimbus/store';
import { send } from '@nimbus/testkit';
import { Registry } from 'prom-client';
import { SecretGraceMetrics } from '../src/metrics/secret-grace-metrics.js';
import { LocalTriggerSecrets } from '../src/sources/local-secrets.js';
import { PushedSources } from '../src/sources/pushed-sources.js';
import { SecretRotations, readSecretValues } from '../src/sources/secret-rotation.js';
import { SourceHealthBoard } from '../src/sources/source-health.js';

const HOOKS = {
  apiVersion: 'nimbus.dev/v1alpha1',
  kind: 'Function',
  metadata: { namespace: 'shop', name: 'hooks' },
  spec: {
    triggers: [
      { name: 'in', webhook: { secret: { name: 'hook', key: 'secret' }, signature: 'hmac-sha256' } },
    ],
  },
} as unknown as FunctionResource;
const SOURCE = sourceTriggersOf(HOOKS)[0] as ResolvedSource;

/** Plain HMAC (`hmac-sha256`): `X-Signature-256` over `<X-Timestamp>.<body>`. */
function signed(secret: string, body: string): Record<string, string> {
  const at = String(Math.floor(Date.now() / 1000));
  const signature = createHmac('sha256', secret).update(`${at}.${body}`).digest('hex');
  return { 'content-type': 'application/json', 'x-timestamp': at, 'x-signature-256': `sha256=${signature}` };
}

/**
 * A webhook's Secret rotated while a sender still signs with the old value: each request the
 * grace lets in is counted in nimbus_source_secret_grace_accepted_total, and the log says so once
 * per trigger per rotation, not once per request. Served on loopback, the Secret in files as
 * local mode reads them.
 */
describe('pushed requests in a rotation grace: counted, and said once per rotation', () => {
  let dir: string;
  let server: Server;
  let base: string;
  let registry: Registry;
  let rotations: SecretRotations;
  const lines: string[] = [];
  const stored: SourceEvent[] = [];
  const secrets = () => new LocalTriggerSecrets({}, dir);
  const setSecret = (value: string) => writeFile(join(dir, 'hook', 'secret'), value);
  /** What the runner's pass does: it looks at the trigger's Secrets, and so sees a rotation. */
  const pass = async () =>
    rotations.observe(sourceKey(SOURCE), await readSecretValues(SOURCE, secrets().reader()), Date.now());
  const post = (secret: string, n: number) =>
    send(base, '/webhook/shop/hooks/in', {
      method: 'POST',
      headers: signed(secret, `{"n":${n}}`),
      body: `{"n":${n}}`,
    });
  const counted = async () =>
    (await registry.getSingleMetric('nimbus_source_secret_grace_accepted_total')?.get())?.values ?? [];
  const graceLines = () => lines.filter((l) => l.includes('previous secret'));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nimbus-grace-'));
    await mkdir(join(dir, 'hook'));
    await setSecret('hook-secret-1');
    registry = new Registry();
    rotations = new SecretRotations(60_000);
    const log = createLogger({}, 'info', (line) => lines.push(line));
    const pushed = new PushedSources({
      directory: {
        list: () => [HOOKS],
        get: (ns, name) => (ns === 'shop' && name === 'hooks' ? HOOKS : undefined),
      },
      secrets: secrets(),
      sinkFor: () => ({ store: async (event: SourceEvent) => void stored.push(event) }),
      health: new SourceHealthBoard(registry, Date.now),
      seen: new MemoryClaimStore(),
      maxBodyBytes: 1 << 20,
      now: Date.now,
      log,
      rotations,
      grace: new SecretGraceMetrics(registry),
    });
    server = createServer((req, res) => pushed.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await pass();
  });

  after(async () => {
    await new Promise((resolve) => server?.close(resolve));
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('the current secret is not counted; after a rotation each old-signed request is, one log line', async () => {
    assert.equal((await post('hook-secret-1', 1)).status, 202);
    assert.deepEqual(await counted(), []);
    await setSecret('hook-secret-2');
    await pass();
    for (let n = 2; n < 7; n++)
      assert.equal((await post('hook-secret-1', n)).status, 202, `request ${n} in the grace`);
    assert.equal((await post('hook-secret-2', 7)).status, 202);
    const [series] = await counted();
    assert.deepEqual(series?.labels, {
      namespace: 'shop',
      function: 'hooks',
      trigger: 'in',
      kind: 'webhook',
    });
    assert.equal(series?.value, 5, 'each request let in by the grace, and only those');
    assert.equal(graceLines().length, 1, graceLines().join('\n'));
    assert.match(graceLines()[0] ?? '', /"trigger":"shop\/hooks\/in"/);
    assert.equal(stored.length, 7);
  });

  it('a second rotation: its grace is said once more; the first secret is refused and not counted', async () => {
    await setSecret('hook-secret-3');
    await pass();
    assert.equal((await post('hook-secret-2', 8)).status, 202);
    assert.equal((await post('hook-secret-2', 9)).status, 202);
    const refused = await post('hook-secret-1', 10);
    assert.equal(refused.status, 401, refused.text);
    assert.equal((await counted())[0]?.value, 7);
    assert.equal(graceLines().length, 2);
    for (const line of lines) assert.doesNotMatch(line, /hook-secret-\d/, 'no secret value logged');
  });
});
