import assert from 'node:assert/strict';
import {
  CJS_DEFAULT,
  CJS_NAMED,
  ESM_DEFAULT,
  ESM_NAMED,
  SYNTAX_ERROR,
  THROWS_ON_LOAD,
} from './support/fixtures.js';
import { removeFunctionDirs, writeFunctionDir } from './support/function-dir.js';
import { request } from './support/http-client.js';
import {
  PY_ASYNC_DEFAULT,
  PY_HELPER,
  PY_IMPORTS_NEIGHBOUR,
  PY_NAMED,
  PY_SYNC_DEFAULT,
  PY_SYNTAX_ERROR,
  PY_THROWS_ON_LOAD,
} from './support/python-fixtures.js';
import { RuntimeProcess } from './support/runtime-process.js';
import { type RuntimeUnderTest, nodeRuntime, pythonAsyncRuntime } from './support/runtimes.js';

/** Function files, the settings that name the handler, and what `GET /` answers (or why loading fails). */
type LoadCase<T> = [name: string, files: Record<string, string>, env: Record<string, string>, expected: T];

interface LoadingCases {
  readonly title: string;
  readonly loads: LoadCase<string>[];
  readonly failures: LoadCase<RegExp>[];
}

const NODE_CASES: LoadingCases = {
  title: 'bundled runtime',
  loads: [
    [
      'an ES module default export',
      { 'index.mjs': ESM_DEFAULT },
      {},
      '{"kind":"esm-default","method":"GET"}',
    ],
    [
      'an ES module named export',
      { 'index.mjs': ESM_NAMED },
      { NIMBUS_HANDLER: 'index.handle' },
      'esm-named',
    ],
    [
      'a CommonJS module.exports function',
      { 'index.cjs': CJS_DEFAULT },
      { NIMBUS_FUNCTION_NAME: 'greeter' },
      'cjs-default greeter',
    ],
    [
      'a CommonJS named export',
      { 'index.cjs': CJS_NAMED },
      { NIMBUS_HANDLER: 'index.handle' },
      '{"kind":"cjs-named"}',
    ],
    [
      'a .js file (CommonJS without a package.json)',
      { 'main.js': CJS_DEFAULT },
      { NIMBUS_HANDLER: 'main.default' },
      'cjs-default function',
    ],
    [
      'a module named with its extension, in a subdirectory',
      { 'lib/handler.mjs': ESM_DEFAULT },
      { NIMBUS_HANDLER: 'lib/handler.mjs.default' },
      '{"kind":"esm-default","method":"GET"}',
    ],
  ],
  failures: [
    [
      'a module that throws while loading',
      { 'index.mjs': THROWS_ON_LOAD },
      {},
      /^handler module index\.mjs failed to load: cannot start: DATABASE_URL is not set$/,
    ],
    [
      'a syntax error',
      { 'index.mjs': SYNTAX_ERROR },
      {},
      /^handler module index\.mjs failed to load: SyntaxError: /,
    ],
    [
      'a missing module',
      { 'other.mjs': ESM_DEFAULT },
      {},
      /^handler module not found in .* \(tried index\.mjs, index\.cjs, index\.js\)$/,
    ],
    [
      'a missing export',
      { 'index.mjs': ESM_DEFAULT },
      { NIMBUS_HANDLER: 'index.nope' },
      /no function export "nope"/,
    ],
  ],
};

const PYTHON_CASES: LoadingCases = {
  title: 'python runtime',
  loads: [
    [
      'an async def (the default main.handle)',
      { 'main.py': PY_ASYNC_DEFAULT },
      {},
      '{"kind":"async","method":"GET"}',
    ],
    [
      'a plain def, run on a handler thread',
      { 'main.py': PY_SYNC_DEFAULT },
      { NIMBUS_FUNCTION_NAME: 'greeter' },
      'sync greeter',
    ],
    ['a named function', { 'main.py': PY_NAMED }, { NIMBUS_HANDLER: 'main.greet' }, '{"kind":"named"}'],
    [
      'a module named with its extension, in a subdirectory',
      { 'lib/handler.py': PY_ASYNC_DEFAULT },
      { NIMBUS_HANDLER: 'lib/handler.py.handle' },
      '{"kind":"async","method":"GET"}',
    ],
    [
      'a dotted module name',
      { 'lib/handler.py': PY_SYNC_DEFAULT },
      { NIMBUS_HANDLER: 'lib.handler.handle' },
      'sync function',
    ],
    [
      'a module that imports its neighbour',
      { 'main.py': PY_IMPORTS_NEIGHBOUR, 'helper.py': PY_HELPER },
      {},
      'NEIGHBOUR',
    ],
  ],
  failures: [
    [
      'a module that raises while loading',
      { 'main.py': PY_THROWS_ON_LOAD },
      {},
      /^handler module main\.py failed to load: cannot start: DATABASE_URL is not set$/,
    ],
    [
      'a syntax error',
      { 'main.py': PY_SYNTAX_ERROR },
      {},
      /^handler module main\.py failed to load: SyntaxError: .*\(main\.py, line 1\)$/,
    ],
    [
      'a missing module',
      { 'other.py': PY_ASYNC_DEFAULT },
      {},
      /^handler module not found in .* \(tried main\.py, main\/__init__\.py\)$/,
    ],
    [
      'a missing function',
      { 'main.py': PY_ASYNC_DEFAULT },
      { NIMBUS_HANDLER: 'main.nope' },
      /^handler module main\.py has no function "nope" \(found nothing\)$/,
    ],
  ],
};

function describeLoading(subject: RuntimeUnderTest, cases: LoadingCases): void {
  describe(`runtime process: loading handlers (${cases.title})`, function () {
    this.timeout(30_000);
    const started: RuntimeProcess[] = [];

    async function start(
      files: Record<string, string>,
      env: Record<string, string> = {},
    ): Promise<RuntimeProcess> {
      const runtime = await RuntimeProcess.start(
        { NIMBUS_FUNCTION_DIR: writeFunctionDir(files), ...env },
        subject.startTimeoutMs,
        subject.launcher,
      );
      started.push(runtime);
      return runtime;
    }

    afterEach(async () => {
      await Promise.all(started.splice(0).map((runtime) => runtime.stop()));
    });
    after(removeFunctionDirs);

    for (const [name, files, env, body] of cases.loads) {
      it(`loads and serves ${name}`, async () => {
        const runtime = await start(files, env);
        assert.deepEqual(
          runtime.messages.map((m) => m.type),
          ['listening', 'ready'],
        );
        const res = await request(runtime.port, '/');
        assert.equal(res.status, 200);
        assert.equal(res.text, body);
        const ready = await request(runtime.port, '/_/ready');
        assert.deepEqual([ready.status, ready.json()], [200, { status: 'ready' }]);
      });
    }

    for (const [name, files, env, reason] of cases.failures) {
      it(`stays up and reports ${name} on /_/ready and over IPC; callers get a generic 503`, async () => {
        const runtime = await start(files, env);
        const failed = runtime.messages.find((m) => m.type === 'load-failed');
        assert.ok(failed?.type === 'load-failed');
        assert.match(failed.reason, reason);

        const ready = await request(runtime.port, '/_/ready');
        assert.equal(ready.status, 503);
        assert.deepEqual(ready.json(), { status: 'failed', reason: failed.reason });

        const invoke = await request(runtime.port, '/anything', { method: 'POST', body: 'x' });
        assert.equal(invoke.status, 503);
        assert.equal(invoke.headers['content-type'], 'application/json');
        const body = invoke.json() as Record<string, unknown>;
        // NIMBUS_ERROR_DETAIL defaults to none: the reason is for the platform and the log only.
        assert.equal(body.reason, undefined);
        assert.equal(body.code, 'HandlerUnavailable');
        assert.match(String(body.error), /handler failed to load/);
        assert.ok(!JSON.stringify(body).includes(failed.reason), 'the reason stays out of the body');
        assert.equal(body.invocationId, invoke.headers['x-call-id']);

        const logged = await runtime.waitForLog((l) => l.msg === 'handler failed to load');
        assert.equal(logged.level, 'error');
        assert.equal(logged.reason, failed.reason);

        const health = await request(runtime.port, '/_/health');
        assert.deepEqual([health.status, health.json()], [200, { status: 'ok' }]);
        assert.ok(runtime.alive);
      });
    }

    it('exits 1 with a message naming the key on a bad configuration', async () => {
      const runtime = RuntimeProcess.spawn(
        { NIMBUS_CONCURRENCY: '0', NIMBUS_FUNCTION_DIR: writeFunctionDir({}) },
        subject.launcher,
      );
      started.push(runtime);
      const exit = await runtime.exited;
      assert.equal(exit.code, 1);
      const line = JSON.parse(runtime.stderr.trim()) as Record<string, unknown>;
      assert.equal(line.level, 'error');
      assert.equal(
        line.msg,
        'invalid configuration: NIMBUS_CONCURRENCY must be an integer from 1 to 10000, got "0"',
      );
    });

    it('reports the real port for PORT=0 before anything else', async () => {
      const [, files, env] = cases.loads[0] as LoadCase<string>;
      const runtime = await start(files, env);
      assert.equal(runtime.messages[0]?.type, 'listening');
      assert.ok(runtime.port > 0);
      const listening = await runtime.waitForLog((l) => l.msg === 'listening');
      assert.equal(listening.port, runtime.port);
    });
  });
}

describeLoading(nodeRuntime, NODE_CASES);
describeLoading(pythonAsyncRuntime, PYTHON_CASES);
