import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLocalConfig } from '../src/config.js';
import { parseFunctionFile, readFunctionFolder } from '../src/function-files.js';

const fn = (name: string, extra = '') => `apiVersion: nimbus.dev/v1alpha1
kind: Function
metadata:
  name: ${name}
spec:
  source:
    inline: "export default () => 'hi'"
${extra}`;

describe('parseFunctionFile', () => {
  it('reads several documents, skipping empty ones', () => {
    const { functions, problems } = parseFunctionFile('/f/a.yaml', `${fn('one')}---\n${fn('two')}---\n`);
    assert.deepEqual(problems, []);
    assert.deepEqual(
      functions.map((f) => [f.resource.metadata.name, f.baseDir]),
      [
        ['one', '/f'],
        ['two', '/f'],
      ],
    );
  });

  it('names the file, the document and the field of a bad one, and keeps the good ones', () => {
    const { functions, problems } = parseFunctionFile(
      '/f/a.yaml',
      `${fn('good')}---\n${fn('bad', '  scale: { min: -1 }\n  timeout: soon\n')}`,
      'functions/a.yaml',
    );
    assert.deepEqual(
      functions.map((f) => f.resource.metadata.name),
      ['good'],
    );
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.where, 'functions/a.yaml (document 2)');
    assert.match(problems[0]?.message ?? '', /spec\.scale\.min: must be >= 0/);
    assert.match(problems[0]?.message ?? '', /spec\.timeout: must be a duration/);
  });

  it('reports YAML that does not parse', () => {
    const { problems } = parseFunctionFile('/f/a.yaml', 'kind: [unclosed', 'a.yaml');
    assert.equal(problems.length, 1);
    assert.match(problems[0]?.message ?? '', /^YAML: /);
  });

  it('reports a document that is not a mapping', () => {
    const { problems } = parseFunctionFile('/f/a.yaml', '- a\n- b\n', 'a.yaml');
    assert.match(problems[0]?.message ?? '', /must be a YAML mapping/);
  });
});

describe('readFunctionFolder', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nimbus-files-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('reads only YAML files, and uses neither of two that define the same function', async () => {
    await writeFile(join(dir, 'a.yaml'), fn('same'));
    await writeFile(join(dir, 'b.yml'), fn('same'));
    await writeFile(join(dir, 'c.yaml'), fn('other'));
    await writeFile(join(dir, 'notes.txt'), 'not yaml: [');
    const { functions, problems } = await readFunctionFolder(dir);
    assert.deepEqual(
      functions.map((f) => f.resource.metadata.name),
      ['other'],
    );
    assert.equal(problems.length, 1);
    assert.deepEqual(problems[0]?.files, [join(dir, 'a.yaml'), join(dir, 'b.yml')]);
    assert.match(problems[0]?.message ?? '', /default\/same is defined more than once/);
  });
});

describe('loadLocalConfig', () => {
  it('listens on loopback and reads examples/ unless told otherwise', () => {
    const config = loadLocalConfig({}, [], '/work');
    assert.equal(config.gateway.host, '127.0.0.1');
    assert.equal(config.gateway.port, 8080);
    assert.equal(config.functionsDir, '/work/examples');
    assert.equal(config.stateDir, '/work/.nimbus');
  });
  it('takes the folder from the argument first, then NIMBUS_FUNCTIONS_DIR', () => {
    assert.equal(loadLocalConfig({ NIMBUS_FUNCTIONS_DIR: 'fns' }, [], '/w').functionsDir, '/w/fns');
    assert.equal(loadLocalConfig({ NIMBUS_FUNCTIONS_DIR: 'fns' }, ['/abs'], '/w').functionsDir, '/abs');
  });
  it('stops on a bad value, naming the key', () => {
    assert.throws(
      () => loadLocalConfig({ NIMBUS_LOG_LEVEL: 'loud' }),
      /^ConfigError: NIMBUS_LOG_LEVEL: must be one of/,
    );
    assert.throws(() => loadLocalConfig({ HOST: 'x', PORT: 'eighty' }), /PORT: must be a whole number/);
    assert.throws(() => loadLocalConfig({}, ['a', 'b']), /at most one folder/);
    assert.throws(
      () => loadLocalConfig({ NIMBUS_ERROR_DETAIL: 'all' }),
      /NIMBUS_ERROR_DETAIL: must be full or none/,
    );
  });
  it("shows callers a function's error text by default, the developer's machine being theirs", () => {
    assert.equal(loadLocalConfig({}, [], '/w').errorDetail, 'full');
    assert.equal(loadLocalConfig({ NIMBUS_ERROR_DETAIL: 'none' }, [], '/w').errorDetail, 'none');
  });
});
