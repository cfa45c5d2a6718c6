import 'reflect-metadata';
import assert from 'node:assert/strict';
import { HandlerLoadError, ModuleHandlerLoader, pickExport } from '../src/invoke/handler-loader.js';
import { handlerCandidates, resolveHandlerPath } from '../src/invoke/handler-path.js';
import { removeFunctionDirs, writeFunctionDir } from './support/function-dir.js';

describe('handler path resolution', () => {
  it('tries .mjs, .cjs, .js for a module without an extension', () => {
    assert.deepEqual(handlerCandidates('/fn', 'index'), ['/fn/index.mjs', '/fn/index.cjs', '/fn/index.js']);
  });

  it('uses a module with an extension as it is', () => {
    assert.deepEqual(handlerCandidates('/fn', 'lib/main.cjs'), ['/fn/lib/main.cjs']);
  });

  it('picks the first candidate that exists', () => {
    const existing = new Set(['/fn/index.cjs', '/fn/index.js']);
    assert.equal(
      resolveHandlerPath('/fn', 'index', (file) => existing.has(file)),
      '/fn/index.cjs',
    );
  });

  it('names every file it tried when none exists', () => {
    assert.throws(
      () => resolveHandlerPath('/fn', 'index', () => false),
      /handler module not found in \/fn \(tried index\.mjs, index\.cjs, index\.js\)/,
    );
  });

  for (const module of ['../x', 'a/../../x', '/etc/passwd', '.']) {
    it(`refuses ${JSON.stringify(module)}, which is not inside the directory`, () => {
      assert.throws(() => handlerCandidates('/fn', module), /outside the function directory/);
    });
  }
});

describe('pickExport', () => {
  const fn = () => 1;
  const other = () => 2;
  const cases: [string, Record<string, unknown>, string, unknown][] = [
    ['an ES default export', { default: fn }, 'default', fn],
    ['an ES named export', { handle: fn, default: undefined }, 'handle', fn],
    ['module.exports = fn, through import()', { default: fn }, 'default', fn],
    ['exports.handle that static analysis found', { handle: fn, default: { handle: fn } }, 'handle', fn],
    ['exports.handle that static analysis missed', { default: { handle: fn } }, 'handle', fn],
    ['a transpiled exports.default', { default: { default: fn } }, 'default', fn],
    [
      'a named export over a same-named property of default',
      { handle: fn, default: { handle: other } },
      'handle',
      fn,
    ],
    ['a missing export', { default: fn }, 'handle', undefined],
  ];
  for (const [name, namespace, exportName, expected] of cases) {
    it(`finds ${name}`, () => {
      assert.equal(pickExport(namespace, exportName), expected);
    });
  }
});

describe('ModuleHandlerLoader', () => {
  after(removeFunctionDirs);

  const load = (files: Record<string, string>, module = 'index', exportName = 'default') =>
    new ModuleHandlerLoader({ functionDir: writeFunctionDir(files), handler: { module, exportName } }).load();

  it('loads an ES module default export', async () => {
    const handler = await load({ 'index.mjs': 'export default async () => "esm";' });
    assert.equal(await handler({} as never, {} as never), 'esm');
  });

  it('loads a CommonJS module.exports function', async () => {
    const handler = await load({ 'index.cjs': 'module.exports = async () => "cjs";' });
    assert.equal(await handler({} as never, {} as never), 'cjs');
  });

  it('loads a CommonJS named export', async () => {
    const handler = await load({ 'index.cjs': 'exports.handle = async () => "named";' }, 'index', 'handle');
    assert.equal(await handler({} as never, {} as never), 'named');
  });

  it('reports a module that throws while loading, with the error', async () => {
    await assert.rejects(load({ 'index.mjs': 'throw new Error("no config");' }), (error) => {
      assert.ok(error instanceof HandlerLoadError);
      assert.equal(error.message, 'handler module index.mjs failed to load: no config');
      assert.ok(error.cause instanceof Error);
      return true;
    });
  });

  it('reports a syntax error by name', async () => {
    await assert.rejects(
      load({ 'index.mjs': 'export default (' }),
      /index\.mjs failed to load: SyntaxError: /,
    );
  });

  it('reports an export that is not a function', async () => {
    await assert.rejects(
      load({ 'index.mjs': 'export const handle = 5;' }, 'index', 'handle'),
      /handler module index\.mjs has no function export "handle" \(found a value of type number\)/,
    );
  });

  it('reports a missing module', async () => {
    await assert.rejects(
      load({ 'other.mjs': '' }),
      /handler module not found .* \(tried index\.mjs, index\.cjs, index\.js\)/,
    );
  });
});
