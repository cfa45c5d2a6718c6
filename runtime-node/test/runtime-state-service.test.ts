import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { systemClock } from '@nimbus/api/clock';
import { pythonRuntimeEntryPath } from '@nimbus/runtime-python';
import { MemoryStateStore } from '@nimbus/store';
import { loadFunctionConfig } from '../src/config.js';
import { ServiceStatePort, type ServiceStateSettings } from '../src/state/service-state.js';
import { removeFunctionDirs } from './support/function-dir.js';
import { eventually, request } from './support/http-client.js';
import type { RuntimeProcess } from './support/runtime-process.js';
import { RUNTIMES, type RuntimeUnderTest, startRuntime } from './support/runtimes.js';
import { type ServiceRequest, TestStateService } from './support/state-service.js';

const TOKEN = 'state-token-of-tests-stateful-0123';
const FUNCTION = { NIMBUS_FUNCTION_NAMESPACE: 'tests', NIMBUS_FUNCTION_NAME: 'stateful' };

/** A folder for token files and certificates, removed after the run. */
const scratch = mkdtempSync(path.join(tmpdir(), 'nimbus-state-service-'));
let files = 0;
function scratchFile(text?: string): string {
  const file = path.join(scratch, `file-${++files}`);
  if (text !== undefined) writeFileSync(file, text, { mode: 0o600 });
  return file;
}

const post = (port: number, url: string, body: string) =>
  request(port, url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

/**
 * ctx.state in a cluster, end to end against each runtime: each call one POST to the gateway's
 * state service (played by a real HTTP server on loopback over a MemoryStateStore), with the
 * function's token and name, on a kept-alive connection; the service's refusals raised by name, a
 * silent service timed out, a value too large never uploaded.
 */
function describeServiceState(subject: RuntimeUnderTest): void {
  describe(`runtime process: ctx.state through the state service (${subject.name})`, function () {
    this.timeout(subject.startTimeoutMs + 15_000);
    const runtimes: RuntimeProcess[] = [];
    let service: TestStateService;
    let url: string;

    async function start(env: Record<string, string>): Promise<RuntimeProcess> {
      const runtime = await startRuntime(subject, subject.state, {
        ...FUNCTION,
        NIMBUS_STATE_TIMEOUT_MS: '300',
        NIMBUS_STATE_MAX_VALUE_BYTES: '64',
        ...env,
      });
      runtimes.push(runtime);
      return runtime;
    }

    before(async () => {
      // The store's limit is below the replica's, so some refusals come back from the service.
      service = new TestStateService(
        new MemoryStateStore(systemClock, { maxValueBytes: 32 }),
        TOKEN,
        'tests',
        'stateful',
      );
      url = await service.listen();
    });

    after(async () => {
      await Promise.all(runtimes.map((runtime) => runtime.stop()));
      await service.close();
      removeFunctionDirs();
    });

    describe('with its token', () => {
      let port: number;
      before(async () => {
        port = (await start({ NIMBUS_STATE_URL: url, NIMBUS_STATE_TOKEN_FILE: scratchFile(TOKEN) })).port;
      });

      it('runs each operation as one POST with the token and the function name, on one kept-alive connection', async () => {
        const sent = service.requests.length;
        const connections = service.connections;
        const last = (): ServiceRequest => {
          const found = service.requests.at(-1);
          assert.ok(found !== undefined, 'the service got a request');
          return found;
        };
        const set = (await post(port, '/set?key=k&ttl=2', '{"a":1}')).json() as { version: string };
        assert.equal(typeof set.version, 'string');
        assert.deepEqual(
          [last().op, last().headers.authorization, last().headers['x-nimbus-function']],
          ['set', `Bearer ${TOKEN}`, 'tests/stateful'],
        );
        assert.equal(last().headers['content-type'], 'application/json');
        assert.deepEqual(last().body, { key: 'k', value: { a: 1 }, ttlMs: 2000 });
        assert.deepEqual((await request(port, '/get-with-version?key=k')).json(), {
          value: { a: 1 },
          version: set.version,
        });
        assert.deepEqual((await post(port, `/cas?key=k&version=${set.version}`, '{"a":2}')).json(), {
          written: true,
        });
        assert.deepEqual(
          [last().op, last().body],
          ['compareAndSet', { key: 'k', expectedVersion: set.version, value: { a: 2 } }],
        );
        assert.deepEqual((await post(port, `/cas?key=k&version=${set.version}`, '{"a":3}')).json(), {
          written: false,
        });
        assert.deepEqual((await request(port, '/get?key=k')).json(), { value: { a: 2 } });
        assert.deepEqual((await request(port, '/incr?key=n&by=5')).json(), { value: 5 });
        assert.deepEqual([last().op, last().body], ['incr', { key: 'n', by: 5 }]);
        assert.deepEqual((await request(port, '/delete?key=k')).json(), { deleted: true });
        assert.deepEqual((await request(port, '/get?key=k')).json(), { value: null });
        assert.deepEqual([last().op, last().body], ['get', { key: 'k' }]);
        assert.equal(service.requests.length - sent, 8, 'one request per call');
        assert.equal(service.connections - connections, 1, 'every call on the same connection');
      });

      it("raises the service's errors by name; uncaught, they answer with their status", async () => {
        const big = JSON.stringify('x'.repeat(40));
        const caught = (await post(port, '/set?key=big', big)).json() as Record<string, unknown>;
        assert.deepEqual([caught.name, caught.limit], ['StateValueTooLargeError', 32]);
        assert.match(String(caught.message), /over the limit of 32 bytes/);
        assert.equal(
          ((await request(port, '/get?key=')).json() as Record<string, unknown>).name,
          'InvalidStateKeyError',
        );
        const uncaught = await post(port, '/uncaught/set?key=big', big);
        assert.equal(uncaught.status, 413);
        const body = uncaught.json() as Record<string, unknown>;
        assert.deepEqual([body.code, body.limit], ['StateValueTooLarge', 32]);
        assert.equal(body.invocationId, uncaught.headers['x-call-id']);
      });

      it('refuses a value over its own limit before uploading it: the service sees no request', async () => {
        const sent = service.requests.length;
        const caught = (await post(port, '/set?key=huge', JSON.stringify('y'.repeat(100)))).json() as Record<
          string,
          unknown
        >;
        assert.deepEqual([caught.name, caught.limit], ['StateValueTooLargeError', 64]);
        assert.match(String(caught.message), /is 102 bytes as JSON, over the limit of 64 bytes/);
        assert.equal(service.requests.length, sent, 'nothing was sent');
      });

      it('fails a call the service does not answer as unavailable: 503 with Retry-After, later calls work', async () => {
        service.silentKeys.add('silent');
        const res = await request(port, '/uncaught/get?key=silent');
        assert.equal(res.status, 503);
        assert.equal(res.headers['retry-after'], '1');
        const body = res.json() as Record<string, unknown>;
        assert.equal(body.code, 'StateUnavailable');
        assert.equal(body.error, 'state get: the state service is unavailable (no answer within 300 ms)');
        assert.equal((await request(port, '/incr?key=after')).status, 200, 'later calls still work');
      });
    });

    it('sends a wrong token, which the service refuses; the function sees why, and nothing is written', async () => {
      const { port } = await start({
        NIMBUS_STATE_URL: url,
        NIMBUS_STATE_TOKEN_FILE: scratchFile('not-the-token-of-tests-stateful'),
      });
      const caught = (await post(port, '/set?key=intruder', '1')).json() as Record<string, unknown>;
      assert.deepEqual(caught, {
        name: 'StateRefusedError',
        message: 'function state failed: the state token is missing or is not the one of tests/stateful',
        limit: null,
      });
      assert.equal(service.requests.at(-1)?.headers.authorization, 'Bearer not-the-token-of-tests-stateful');
      const uncaught = await request(port, '/uncaught/get?key=intruder');
      assert.deepEqual([uncaught.status, uncaught.json().code], [500, 'StateRefused']);
      assert.equal(await service.store.scoped('tests', 'stateful').get('intruder'), undefined);
    });

    it('reads the token file once; a failed read is tried again by the next call', async () => {
      const file = scratchFile();
      const { port } = await start({ NIMBUS_STATE_URL: url, NIMBUS_STATE_TOKEN_FILE: file });
      const missing = (await request(port, '/get?key=k')).json() as Record<string, unknown>;
      assert.equal(missing.name, 'StateUnavailableError');
      assert.equal(
        missing.message,
        `cannot read the state token from NIMBUS_STATE_TOKEN_FILE (${file}): ENOENT: no such file or directory, open '${file}'`,
      );
      writeFileSync(file, `${TOKEN}\n`);
      assert.deepEqual((await request(port, '/incr?key=once')).json(), { value: 1 });
      writeFileSync(file, 'a-token-written-later-0123456789');
      assert.deepEqual((await request(port, '/incr?key=once')).json(), { value: 2 });
      assert.equal(service.requests.at(-1)?.headers.authorization, `Bearer ${TOKEN}`);
    });

    it('fails every call as unavailable while the service cannot be reached', async () => {
      const closed = new TestStateService(new MemoryStateStore(), TOKEN, 'tests', 'stateful');
      const closedUrl = await closed.listen();
      await closed.close();
      const { port } = await start({ NIMBUS_STATE_URL: closedUrl, NIMBUS_STATE_TOKEN: TOKEN });
      const res = await request(port, '/uncaught/get?key=k');
      assert.equal(res.status, 503);
      assert.match(
        String(res.json().error),
        /^state get: the state service is unavailable \(connect ECONNREFUSED 127\.0\.0\.1:\d+\)$/,
      );
    });

    it('fails the calls in flight when it closes at shutdown', async () => {
      service.silentKeys.add('in-flight');
      const failed = await closeWhileWaiting(subject, url, () =>
        service.requests.some((r) => r.body.key === 'in-flight'),
      );
      assert.equal(failed.name, 'StateUnavailableError');
      assert.ok(failed.ms < 4_000, `failed at close, not at the timeout (${failed.ms} ms)`);
      assert.equal(
        failed.message,
        'state get: the state service is unavailable (the runtime is shutting down)',
      );
    });
  });
}

/**
 * One `get` of a key the service never answers, on a port with a 5 s timeout, closed (as at
 * shutdown) once the service has the request: how the call fails, and after how long.
 */
async function closeWhileWaiting(
  subject: RuntimeUnderTest,
  url: string,
  received: () => boolean,
): Promise<{ name: string; message: string; ms: number }> {
  const env = { NIMBUS_STATE_URL: url, NIMBUS_STATE_TOKEN: TOKEN, NIMBUS_STATE_TIMEOUT_MS: '5000' };
  if (subject.language === 'node') {
    const settings = loadFunctionConfig(env).state as ServiceStateSettings;
    const port = new ServiceStatePort(settings, 'tests', 'stateful');
    const started = Date.now();
    const call = port.get('in-flight');
    await eventually(() => (received() ? true : undefined), 4_000, 'the request at the service');
    await port.close();
    const error = await call.then(
      () => assert.fail('the call succeeded'),
      (e: Error) => e,
    );
    return { name: error.name, message: error.message, ms: Date.now() - started };
  }
  // The port on its own in a python3 of its own; it closes once its request is on the wire (its
  // connection busy): from here, the service's view of it cannot be seen.
  const script = `
import asyncio, json, sys, time
sys.path.insert(0, ${JSON.stringify(path.dirname(pythonRuntimeEntryPath()))})
from nimbus_runtime.config import load_function_config
from nimbus_runtime.state.service_state import ServiceStatePort

async def main():
    port = ServiceStatePort(load_function_config(json.loads(sys.argv[1])).state, 'tests', 'stateful')
    started = time.monotonic()
    call = asyncio.ensure_future(port.get('in-flight'))
    deadline = started + 4
    while not port._busy and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    port.close()
    try:
        await call
        return {'name': 'none', 'message': 'the call succeeded', 'ms': 0}
    except Exception as error:
        return {'name': type(error).__name__, 'message': str(error), 'ms': (time.monotonic() - started) * 1000}

print(json.dumps(asyncio.run(main())))
`;
  const { stdout } = await promisify(execFile)('python3', ['-c', script, JSON.stringify(env)]);
  return JSON.parse(stdout) as { name: string; message: string; ms: number };
}

for (const subject of RUNTIMES) describeServiceState(subject);

describe('runtime process: ctx.state through the state service over https', function () {
  this.timeout(60_000);
  let service: TestStateService | undefined;
  let url: string;
  let cert: string;
  const runtimes: RuntimeProcess[] = [];

  before(async function () {
    const key = scratchFile();
    cert = scratchFile();
    try {
      execFileSync(
        'openssl',
        [
          ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
          ...['-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'],
          ...['-addext', 'subjectAltName=IP:127.0.0.1'],
        ],
        { stdio: 'pipe' },
      );
    } catch {
      this.skip(); // no openssl to make a certificate with
    }
    const tls = { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
    service = new TestStateService(new MemoryStateStore(), TOKEN, 'tests', 'stateful', tls);
    url = await service.listen();
  });

  after(async () => {
    await Promise.all(runtimes.map((runtime) => runtime.stop()));
    await service?.close();
    removeFunctionDirs();
    rmSync(scratch, { recursive: true, force: true });
  });

  async function start(subject: RuntimeUnderTest, env: Record<string, string>): Promise<RuntimeProcess> {
    const runtime = await startRuntime(subject, subject.state, {
      ...FUNCTION,
      NIMBUS_STATE_URL: url,
      NIMBUS_STATE_TOKEN: TOKEN,
      ...env,
    });
    runtimes.push(runtime);
    return runtime;
  }

  for (const subject of RUNTIMES) {
    it(`reaches it with TLS, the service's certificate checked (${subject.name})`, async () => {
      assert.ok(service !== undefined);
      assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
      // Each runtime's own way to trust one more CA.
      const { port } = await start(subject, { NODE_EXTRA_CA_CERTS: cert, SSL_CERT_FILE: cert });
      const key = `tls-${subject.language}-${subject.handlerKind}`;
      assert.deepEqual((await request(port, `/incr?key=${key}&by=3`)).json(), { value: 3 });
      assert.deepEqual((await request(port, `/get?key=${key}`)).json(), { value: 3 });
      assert.equal(service.requests.at(-1)?.headers.authorization, `Bearer ${TOKEN}`);
    });

    it(`refuses a service whose certificate it does not trust (${subject.name})`, async () => {
      assert.ok(service !== undefined);
      const { port } = await start(subject, {});
      const sent = service.requests.length;
      const res = await request(port, '/uncaught/get?key=k');
      assert.equal(res.status, 503);
      assert.equal(res.json().error, 'state get: the state service is unavailable (self-signed certificate)');
      assert.equal(service.requests.length, sent, 'no request reached the service');
    });
  }
});
