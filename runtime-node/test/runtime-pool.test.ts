import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SpecialiseCommand, SupervisorMessage } from '../src/supervisor-channel.js';
import { CJS_ENV } from './support/fixtures.js';
import { removeFunctionDirs, writeFunctionDir } from './support/function-dir.js';
import { eventually, request } from './support/http-client.js';
import { RuntimeProcess } from './support/runtime-process.js';
import {
  RUNTIMES,
  type RuntimeUnderTest,
  functionEnv,
  startPool as startPoolOf,
  startRuntime,
} from './support/runtimes.js';

const NOT_SPECIALISED = { status: 'unspecialised', reason: 'generic pool replica: not specialised' };
const TOKEN = 'pool-token-for-the-tests-0123';

/**
 * The warm pool, end to end against each runtime: a generic replica that answers only its own
 * routes, takes on one function (over IPC as local mode's supervisor does, or over HTTP with the
 * pool token as a cluster's controller does), refuses everything else, and leaves the function
 * nothing of the token.
 */
function describePool(subject: RuntimeUnderTest): void {
  describe(`runtime process: warm pool replicas (${subject.name})`, function () {
    this.timeout(subject.startTimeoutMs + 15_000);
    const started: RuntimeProcess[] = [];

    async function startPool(env: Record<string, string> = {}): Promise<RuntimeProcess> {
      const runtime = await startPoolOf(subject, env);
      started.push(runtime);
      return runtime;
    }

    /** Sends `specialise` over IPC and waits for the runtime's answer to it. */
    async function specialise(
      runtime: RuntimeProcess,
      env: SpecialiseCommand['env'],
      answer: SupervisorMessage['type'] = 'ready',
    ): Promise<SupervisorMessage> {
      const before = runtime.messages.length;
      runtime.send({ type: 'specialise', env });
      return runtime.waitFor(
        (m) => runtime.messages.indexOf(m) >= before && m.type === answer,
        subject.startTimeoutMs,
      );
    }

    const types = (runtime: RuntimeProcess) => runtime.messages.map((m) => m.type);

    /** The token in a file of its own, as a pool pod's init container leaves it. */
    const tokenDirs: string[] = [];
    function tokenFile(token = TOKEN): string {
      const dir = mkdtempSync(join(tmpdir(), 'nimbus-pool-token-'));
      tokenDirs.push(dir);
      const file = join(dir, 'token');
      writeFileSync(file, `${token}\n`, { mode: 0o600 });
      return file;
    }

    afterEach(async () => {
      await Promise.all(started.splice(0).map((runtime) => runtime.stop()));
      for (const dir of tokenDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    });
    after(removeFunctionDirs);

    it('reports only its port, is alive, not ready, and answers every invocation 503 NotSpecialised', async () => {
      const pool = await startPool();
      const health = await request(pool.port, '/_/health');
      assert.deepEqual([health.status, health.json()], [200, { status: 'ok' }]);
      const ready = await request(pool.port, '/_/ready');
      assert.deepEqual([ready.status, ready.json()], [503, NOT_SPECIALISED]);

      for (const [method, path, body] of [
        ['GET', '/', undefined],
        ['POST', '/orders?id=1', '{"a":1}'],
      ] as const) {
        const res = await request(pool.port, path, { method, body });
        assert.equal(res.status, 503, `${method} ${path}`);
        assert.equal(res.headers['content-type'], 'application/json');
        assert.deepEqual(res.json(), {
          error: 'generic pool replica: not specialised',
          code: 'NotSpecialised',
        });
      }
      const metrics = await request(pool.port, '/_/metrics');
      assert.equal(metrics.status, 200);
      assert.match(metrics.text, /^nimbus_runtime_handler_loaded 0$/m);
      const wrongMethod = await request(pool.port, '/_/specialise');
      assert.deepEqual([wrongMethod.status, wrongMethod.headers.allow], [405, 'POST']);
      assert.deepEqual(wrongMethod.json(), { error: 'method not allowed; use POST' });

      const listening = await pool.waitForLog((l) => l.msg === 'listening');
      assert.equal(listening.pool, true);
      assert.deepEqual(types(pool), ['listening']);
    });

    it('takes on a function over IPC: its env is set before the import, its settings apply, process settings do not', async () => {
      const pool = await startPool();
      const port = pool.port;
      await specialise(pool, {
        ...functionEnv(subject.poolEnv),
        NIMBUS_FUNCTION_NAME: 'greeter',
        NIMBUS_FUNCTION_NAMESPACE: 'team',
        NIMBUS_TIMEOUT_MS: '300',
        GREETING: 'hello',
        PORT: '9999',
      });
      assert.deepEqual(types(pool), ['listening', 'ready']);
      assert.equal(pool.port, port);

      const ready = await request(port, '/_/ready');
      assert.deepEqual([ready.status, ready.json()], [200, { status: 'ready' }]);
      const res = await request(port, '/');
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json(), {
        atImport: 'hello',
        now: 'hello',
        functionName: 'greeter',
        namespace: 'team',
        tokenFile: null,
      });
      // NIMBUS_TIMEOUT_MS from the specialise, not the default of 30 s.
      const hang = await request(port, '/hang');
      assert.deepEqual([hang.status, hang.json().error], [504, 'function timed out after 300ms']);
      assert.match((await request(port, '/_/metrics')).text, /^nimbus_runtime_handler_loaded 1$/m);

      const specialising = await pool.waitForLog((l) => l.msg === 'specialising');
      assert.deepEqual([specialising.function, specialising.ignored], ['greeter', ['PORT']]);
      const specialised = await pool.waitForLog((l) => l.msg === 'specialised');
      assert.deepEqual([specialised.function, specialised.status], ['greeter', 'ready']);
      assert.equal(typeof specialised.specialiseMs, 'number');
    });

    if (subject.language === 'node') {
      it('takes on a CommonJS function over IPC', async () => {
        const pool = await startPool();
        await specialise(pool, {
          NIMBUS_FUNCTION_DIR: writeFunctionDir({ 'main.cjs': CJS_ENV }),
          NIMBUS_HANDLER: 'main.handle',
          NIMBUS_FUNCTION_NAME: 'cjs-fn',
          GREETING: 'hej',
        });
        const res = await request(pool.port, '/');
        assert.equal(res.status, 200);
        assert.deepEqual(res.json(), { kind: 'cjs', atImport: 'hej', functionName: 'cjs-fn' });
      });
    }

    it('takes the code with the IPC command too: written out, then loaded', async () => {
      const pool = await startPool();
      const before = pool.messages.length;
      pool.child.send({
        type: 'specialise',
        env: { ...subject.shipped.env, NIMBUS_FUNCTION_DIR: '/nowhere' },
        files: subject.shipped.files,
      });
      await pool.waitFor((m) => pool.messages.indexOf(m) >= before && m.type === 'ready');
      const res = await request(pool.port, '/?name=ipc');
      assert.deepEqual([res.status, res.json()], [200, { hello: 'ipc' }]);
    });

    it('reports a handler that fails to load as load-failed, and /_/ready stays 503 with the reason', async () => {
      const pool = await startPool();
      const failed = await specialise(pool, functionEnv(subject.throwsOnLoad), 'load-failed');
      assert.ok(failed.type === 'load-failed');
      assert.equal(failed.reason, subject.throwsOnLoad.reason);

      const ready = await request(pool.port, '/_/ready');
      assert.deepEqual([ready.status, ready.json()], [503, { status: 'failed', reason: failed.reason }]);
      const invoke = await request(pool.port, '/');
      // Callers do not see the reason (NIMBUS_ERROR_DETAIL defaults to none); the controller does.
      assert.deepEqual(
        [invoke.status, invoke.json().code, invoke.json().reason],
        [503, 'HandlerUnavailable', undefined],
      );
      assert.deepEqual(types(pool), ['listening', 'load-failed']);
      assert.ok(pool.alive);
    });

    it('refuses a second specialise and keeps serving the first function', async () => {
      const pool = await startPool();
      await specialise(pool, { ...functionEnv(subject.poolEnv), NIMBUS_FUNCTION_NAME: 'first' });
      const refused = await specialise(
        pool,
        { ...functionEnv(subject.poolEnv), NIMBUS_FUNCTION_NAME: 'second' },
        'specialise-refused',
      );
      assert.ok(refused.type === 'specialise-refused');
      assert.equal(
        refused.reason,
        'this replica has taken on function first; a process serves one function for life',
      );
      const logged = await pool.waitForLog((l) => l.msg === 'specialise refused');
      assert.deepEqual([logged.level, logged.function], ['warn', 'first']);

      const res = await request(pool.port, '/');
      assert.deepEqual([res.status, res.json().functionName], [200, 'first']);
      assert.deepEqual(types(pool), ['listening', 'ready', 'specialise-refused']);
    });

    it('refuses invalid settings over IPC and stays generic, so a valid specialise still works', async () => {
      const pool = await startPool();
      const badNumber = await specialise(pool, { NIMBUS_CONCURRENCY: '0' }, 'specialise-refused');
      assert.deepEqual(badNumber, {
        type: 'specialise-refused',
        reason: 'invalid configuration: NIMBUS_CONCURRENCY must be an integer from 1 to 10000, got "0"',
      });
      const before = pool.messages.length;
      pool.child.send({ type: 'specialise', env: ['NIMBUS_HANDLER=index.default'] });
      const badShape = await pool.waitFor((m) => pool.messages.indexOf(m) >= before);
      assert.deepEqual(badShape, {
        type: 'specialise-refused',
        reason: 'invalid configuration: env must be an object of environment variables (name to string)',
      });
      const ready = await request(pool.port, '/_/ready');
      assert.deepEqual([ready.status, ready.json()], [503, NOT_SPECIALISED]);

      await specialise(pool, functionEnv(subject.poolEnv));
      assert.equal((await request(pool.port, '/')).status, 200);
    });

    it('ignores supervisor messages other than specialise, and stays generic', async () => {
      const pool = await startPool();
      for (const message of [
        'specialise',
        42,
        { type: 'reload' },
        { env: {} },
        { type: 'state-result', id: 1 },
      ])
        pool.child.send(message);
      // Messages arrive in order: the answer to this one comes after the others were handled.
      await specialise(pool, functionEnv(subject.poolEnv));
      assert.deepEqual(types(pool), ['listening', 'ready']);
      assert.equal((await request(pool.port, '/')).status, 200);
    });

    describe('POST /_/specialise', () => {
      const specialiseOverHttp = (port: number, body: unknown, authorization?: string) =>
        request(port, '/_/specialise', {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(authorization === undefined ? {} : { authorization }),
          },
          body: typeof body === 'string' ? body : JSON.stringify(body),
        });

      it('takes on a function with the pool token, and refuses without it (401) or with another (403)', async () => {
        const file = tokenFile();
        const pool = await startPool({ NIMBUS_POOL_TOKEN_FILE: file });
        assert.equal(existsSync(file), false, 'the token file is removed at start');
        const env = { ...functionEnv(subject.poolEnv), NIMBUS_FUNCTION_NAME: 'over-http', GREETING: 'hi' };

        const missing = await specialiseOverHttp(pool.port, { env });
        assert.deepEqual([missing.status, missing.headers['www-authenticate']], [401, 'Bearer']);
        assert.deepEqual(missing.json(), { error: 'specialise needs an Authorization: Bearer token' });
        const wrong = await specialiseOverHttp(pool.port, { env }, 'Bearer not-the-pool-token-at-all');
        assert.deepEqual(
          [wrong.status, wrong.json()],
          [403, { error: 'the Bearer token is not the one this replica accepts' }],
        );
        // A prefix of the token, or the token in another scheme, is no better.
        assert.equal(
          (await specialiseOverHttp(pool.port, { env }, `Bearer ${TOKEN.slice(0, -1)}`)).status,
          403,
        );
        assert.equal((await specialiseOverHttp(pool.port, { env }, `Basic ${TOKEN}`)).status, 401);
        assert.deepEqual((await request(pool.port, '/_/ready')).json(), NOT_SPECIALISED);
        const refusedLog = await pool.waitForLog((l) => l.msg === 'specialise request refused');
        assert.deepEqual([refusedLog.statusCode, refusedLog.remoteAddress], [401, '127.0.0.1']);

        const accepted = await specialiseOverHttp(pool.port, { env }, `Bearer ${TOKEN}`);
        assert.deepEqual([accepted.status, accepted.json()], [202, { status: 'specialising' }]);
        await eventually(
          async () => ((await request(pool.port, '/_/ready')).status === 200 ? true : undefined),
          subject.startTimeoutMs,
        );
        await pool.waitFor((m) => m.type === 'ready');
        const res = await request(pool.port, '/');
        assert.deepEqual(
          [res.json().functionName, res.json().atImport, res.json().tokenFile],
          ['over-http', 'hi', null],
        );

        const again = await specialiseOverHttp(pool.port, { env }, `Bearer ${TOKEN}`);
        assert.deepEqual(
          [again.status, again.json().error],
          [409, 'this replica has taken on function over-http; a process serves one function for life'],
        );
        // The token is checked before anything about the replica's state is said.
        assert.equal((await specialiseOverHttp(pool.port, { env })).status, 401);
        assert.equal(
          (await specialiseOverHttp(pool.port, { env }, 'Bearer wrong-token-0123456789')).status,
          403,
        );
        assert.deepEqual((await request(pool.port, '/')).json().functionName, 'over-http');
      });

      it("leaves the function's code nothing of the token: not in its env, not on disk", async () => {
        const file = tokenFile();
        const pool = await startPool({ NIMBUS_POOL_TOKEN_FILE: file, NIMBUS_LOG_LEVEL: 'debug' });
        const accepted = await specialiseOverHttp(
          pool.port,
          { env: functionEnv(subject.poolEnv) },
          `Bearer ${TOKEN}`,
        );
        assert.equal(accepted.status, 202, accepted.text);
        await pool.waitFor((m) => m.type === 'ready', subject.startTimeoutMs);

        const res = await request(pool.port, `/secrets?file=${encodeURIComponent(file)}`);
        assert.equal(res.status, 200, res.text);
        const found = res.json() as {
          env: Record<string, string>;
          procEnviron: string | null;
          fileExists: boolean;
          dirEntries: string[];
        };
        assert.ok(!JSON.stringify(found.env).includes(TOKEN), 'the token is not in the environment');
        assert.equal(found.env.NIMBUS_POOL_TOKEN_FILE, undefined, 'nor is the path of its file');
        // The pool's own function settings are gone: the function's come with the specialise.
        assert.equal(found.env.NIMBUS_LOG_LEVEL, undefined);
        assert.equal(found.env.NIMBUS_FUNCTION_DIR !== undefined, true);
        assert.equal(typeof found.procEnviron, 'string');
        assert.ok(!found.procEnviron?.includes(TOKEN), 'nor in the initial environment block');
        assert.deepEqual([found.fileExists, found.dirEntries], [false, []], 'nor on disk');
      });

      const badRequests: [string, unknown, string][] = [
        ['a setting out of range', { env: { NIMBUS_TIMEOUT_MS: '0' } }, 'NIMBUS_TIMEOUT_MS'],
        ['a handler outside the directory', { env: { NIMBUS_HANDLER: '../x.default' } }, 'NIMBUS_HANDLER'],
        ['a value that is not a string', { env: { NIMBUS_CONCURRENCY: 4 } }, 'env.NIMBUS_CONCURRENCY'],
        ['no env', {}, 'env'],
        ['files as a list', { env: {}, files: ['x'] }, 'files'],
        ['a file path with ..', { env: {}, files: { '../index.mjs': 'x' } }, 'files.../index.mjs'],
        ['an absolute file path', { env: {}, files: { '/etc/index.mjs': 'x' } }, 'files./etc/index.mjs'],
        ['a file path with a backslash', { env: {}, files: { 'a\\..\\x.py': 'x' } }, 'files.a\\..\\x.py'],
        ['a file that is not text', { env: {}, files: { 'index.mjs': 1 } }, 'files.index.mjs'],
        ['files over 1 MiB', { env: {}, files: { a: 'x'.repeat(600_000), b: 'y'.repeat(600_000) } }, 'files'],
        ['a body that is not JSON', '{"env":', 'body'],
        ['a JSON array', '[]', 'body'],
      ];
      for (const [name, body, field] of badRequests) {
        it(`answers 400 naming ${field} for ${name}, and stays generic`, async () => {
          const pool = await startPool({ NIMBUS_POOL_TOKEN_FILE: tokenFile() });
          const res = await specialiseOverHttp(pool.port, body, `Bearer ${TOKEN}`);
          assert.equal(res.status, 400);
          const answer = res.json();
          assert.equal(answer.field, field);
          assert.equal(typeof answer.error, 'string');
          if (field.startsWith('NIMBUS_'))
            assert.match(String(answer.error), new RegExp(`^${field} must be`));
          assert.deepEqual((await request(pool.port, '/_/ready')).json(), NOT_SPECIALISED);
        });
      }

      it('takes the code with the command (a pool pod has no volume of its own): written out, then loaded', async () => {
        const pool = await startPool({ NIMBUS_POOL_TOKEN_FILE: tokenFile() });
        const accepted = await specialiseOverHttp(
          pool.port,
          {
            env: { ...subject.shipped.env, NIMBUS_FUNCTION_NAME: 'shipped', NIMBUS_FUNCTION_DIR: '/nowhere' },
            files: subject.shipped.files,
          },
          `Bearer ${TOKEN}`,
        );
        assert.equal(accepted.status, 202, accepted.text);
        await pool.waitFor((m) => m.type === 'ready', subject.startTimeoutMs);
        const res = await request(pool.port, '/?name=pool');
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json().hello, 'pool');
      });

      it('refuses every HTTP caller, loopback too, without a token (local mode); IPC still specialises', async () => {
        const pool = await startPool();
        const env = functionEnv(subject.poolEnv);
        for (const authorization of [undefined, `Bearer ${TOKEN}`]) {
          const refused = await specialiseOverHttp(pool.port, { env }, authorization);
          assert.deepEqual(
            [refused.status, refused.json()],
            [
              403,
              {
                error:
                  'this replica is specialised by its supervisor only; it accepts no specialise over HTTP',
              },
            ],
          );
        }
        assert.deepEqual((await request(pool.port, '/_/ready')).json(), NOT_SPECIALISED);
        await specialise(pool, env);
        assert.equal((await request(pool.port, '/')).status, 200);
        // Once specialised, the function's runtime answers the route: still no HTTP caller.
        assert.equal((await specialiseOverHttp(pool.port, { env }, `Bearer ${TOKEN}`)).status, 403);
      });

      it('does not exist in a replica started for its function (404)', async () => {
        const runtime = await startRuntime(subject, subject.poolEnv);
        started.push(runtime);
        const res = await specialiseOverHttp(runtime.port, { env: {} }, `Bearer ${TOKEN}`);
        assert.deepEqual([res.status, res.json()], [404, { error: 'no runtime endpoint at /_/specialise' }]);
        assert.equal((await request(runtime.port, '/')).status, 200);
      });
    });

    it('exits 0 at once on SIGTERM before it has a function', async () => {
      const pool = await startPool();
      pool.kill('SIGTERM');
      assert.deepEqual(await pool.exited, { code: 0, signal: null });
    });

    it('exits when the supervisor goes away (IPC channel closed)', async () => {
      const pool = await startPool();
      pool.child.disconnect();
      assert.deepEqual(await pool.exited, { code: 0, signal: null });
    });

    const badStarts: [string, () => Record<string, string>, RegExp][] = [
      [
        'a pool token in the environment',
        () => ({ NIMBUS_POOL_TOKEN: TOKEN }),
        /invalid configuration: NIMBUS_POOL_TOKEN is not read/,
      ],
      [
        'a token file that is not there (taken by an earlier start)',
        () => ({ NIMBUS_POOL_TOKEN_FILE: join(tmpdir(), 'no-such-nimbus-pool-token') }),
        /invalid configuration: NIMBUS_POOL_TOKEN_FILE must name a file holding the pool token; .* \(ENOENT\)/,
      ],
      [
        'a token too short to be a secret',
        () => ({ NIMBUS_POOL_TOKEN_FILE: tokenFile('short') }),
        /invalid configuration: NIMBUS_POOL_TOKEN_FILE must hold a token of at least 16/,
      ],
    ];
    for (const [name, env, message] of badStarts) {
      it(`exits 1 naming the key for ${name}`, async () => {
        const pool = RuntimeProcess.spawn({ NIMBUS_POOL: '1', ...env() }, subject.launcher);
        started.push(pool);
        assert.equal((await pool.exited).code, 1);
        assert.match(pool.stderr, message);
        assert.ok(!pool.stderr.includes(TOKEN), 'the token is never echoed');
      });
    }
  });
}

for (const subject of RUNTIMES) describePool(subject);
