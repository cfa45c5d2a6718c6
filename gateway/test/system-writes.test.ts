import 'reflect-metadata';
import assert from 'node:assert/strict';
import { type FunctionResource, createLogger } from '@nimbus/api';
import { KubeApiError } from '@nimbus/kube/errors';
import { send } from '@nimbus/testkit';
import { loadGatewayConfig } from '../src/config.js';
import { createGatewayContainer } from '../src/container.js';
import type { Gateway } from '../src/gateway.js';
import type { FunctionDirectory } from '../src/ports.js';
import { TOKENS } from '../src/tokens.js';

const ADMIN = 'admin-key-0123456789';
const INVOKER = 'invoke-key-0123456789';
const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };

const valid = (name = 'hello', extra: Record<string, unknown> = {}) => ({
  apiVersion: 'nimbus.dev/v1alpha1',
  kind: 'Function',
  metadata: { name, ...extra },
  spec: { source: { inline: 'export default () => "hi"' } },
});

/** A directory that records the writes it is asked for and answers as the test says. */
class RecordingDirectory implements FunctionDirectory {
  calls: unknown[][] = [];
  fail: unknown;
  list = () => [];
  get = () => undefined;
  private answer<T>(value: T): Promise<T> {
    return this.fail === undefined ? Promise.resolve(value) : Promise.reject(this.fail);
  }
  create(fn: FunctionResource) {
    this.calls.push(['create', fn]);
    return this.answer({ ...fn, metadata: { ...fn.metadata, resourceVersion: '7' } });
  }
  replace(namespace: string, name: string, fn: FunctionResource) {
    this.calls.push(['replace', namespace, name, fn]);
    return this.answer({ ...fn, metadata: { ...fn.metadata, resourceVersion: '8' } });
  }
  remove(namespace: string, name: string) {
    this.calls.push(['remove', namespace, name]);
    return this.answer(undefined);
  }
}

async function gatewayWith(directory: FunctionDirectory): Promise<{ base: string; server: Gateway }> {
  const config = loadGatewayConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    NIMBUS_API_KEYS: `admin:${ADMIN},invoke:${INVOKER}`,
    NIMBUS_DEFAULT_NAMESPACE: 'home',
  });
  const server = createGatewayContainer(config, {
    directory,
    logger: createLogger({}, 'error', () => {}),
  }).resolve<Gateway>(TOKENS.Gateway);
  const address = await server.listen();
  return { base: `http://127.0.0.1:${address.port}`, server };
}

describe('/system/functions writes', () => {
  let directory: RecordingDirectory;
  let base: string;
  let server: Gateway;

  beforeEach(async () => {
    directory = new RecordingDirectory();
    ({ base, server } = await gatewayWith(directory));
  });
  afterEach(() => server.close());

  const post = (body: string, query = '', headers: Record<string, string> = admin) =>
    send(base, `/system/functions${query}`, { method: 'POST', headers, body });

  it('creates: 201 with what the store kept and where to read it', async () => {
    const reply = await post(JSON.stringify(valid()));
    assert.equal(reply.status, 201);
    assert.equal(reply.headers.location, '/system/functions/hello?namespace=home');
    const created = reply.json<FunctionResource>();
    assert.equal(created.metadata.resourceVersion, '7');
    assert.equal(created.metadata.namespace, 'home');
    // Sent as given, not with the schema's defaults filled in: the API server applies them.
    assert.equal((directory.calls[0]?.[1] as FunctionResource).spec.timeout, undefined);
  });

  it("takes the namespace from the body, else ?namespace=, else the gateway's default", async () => {
    await post(JSON.stringify(valid('a', { namespace: 'team' })));
    await post(JSON.stringify(valid('b')), '?namespace=other');
    await post(JSON.stringify(valid('c')));
    assert.deepEqual(
      directory.calls.map((c) => (c[1] as FunctionResource).metadata.namespace),
      ['team', 'other', 'home'],
    );
  });

  it('reads a body sent without a JSON content type', async () => {
    const reply = await post(JSON.stringify(valid()), '', {
      authorization: `Bearer ${ADMIN}`,
      'content-type': 'application/x-www-form-urlencoded',
    });
    assert.equal(reply.status, 201);
  });

  const refusals: {
    name: string;
    body: string;
    query?: string;
    status: number;
    code: string;
    fields?: string[];
  }[] = [
    {
      name: 'scale.min above scale.max',
      body: JSON.stringify({ ...valid(), spec: { ...valid().spec, scale: { min: 5, max: 1 } } }),
      status: 422,
      code: 'InvalidFunction',
      fields: ['spec.scale.min'],
    },
    {
      name: 'a name that is not an RFC 1035 label',
      body: JSON.stringify(valid('Not_A_Label')),
      status: 422,
      code: 'InvalidFunction',
      fields: ['metadata.name'],
    },
    {
      name: 'a misspelt field',
      body: JSON.stringify({ ...valid(), spec: { ...valid().spec, timout: '3s' } }),
      status: 422,
      code: 'InvalidFunction',
      fields: ['spec.timout'],
    },
    {
      name: 'no spec, no metadata',
      body: JSON.stringify({ apiVersion: 'nimbus.dev/v1alpha1', kind: 'Function' }),
      status: 422,
      code: 'InvalidFunction',
      fields: ['metadata', 'spec'],
    },
    {
      name: 'a body namespace that differs from ?namespace=',
      body: JSON.stringify(valid('a', { namespace: 'team' })),
      query: '?namespace=other',
      status: 422,
      code: 'InvalidFunction',
      fields: ['metadata.namespace'],
    },
    {
      name: 'a bad ?namespace=',
      body: JSON.stringify(valid()),
      query: '?namespace=..',
      status: 400,
      code: 'InvalidNamespace',
    },
    { name: 'malformed JSON', body: '{"apiVersion":', status: 400, code: 'MalformedRequest' },
    { name: 'a JSON array', body: '[]', status: 400, code: 'MalformedRequest' },
    { name: 'a JSON string', body: '"Function"', status: 400, code: 'MalformedRequest' },
    { name: 'JSON null', body: 'null', status: 400, code: 'MalformedRequest' },
    { name: 'no body', body: '', status: 400, code: 'MalformedRequest' },
  ];
  for (const r of refusals) {
    it(`refuses ${r.name}: ${r.status} ${r.code}, and asks the store nothing`, async () => {
      const reply = await post(r.body, r.query);
      assert.equal(reply.status, r.status, reply.text);
      assert.match(String(reply.headers['content-type']), /^application\/json/);
      const body = reply.json<{ code: string; error: string; fields?: { field: string }[] }>();
      assert.equal(body.code, r.code);
      if (r.fields !== undefined) {
        assert.deepEqual(body.fields?.map((f) => f.field).sort(), r.fields);
        for (const field of r.fields) assert.ok(body.error.includes(field), body.error);
      }
      assert.deepEqual(directory.calls, []);
    });
  }

  it('refuses a body larger than the API server takes: 413', async () => {
    const big = JSON.stringify(valid('big', { annotations: { a: 'x'.repeat(3 * 1024 * 1024) } }));
    const reply = await post(big);
    assert.equal(reply.status, 413);
    assert.equal(reply.json().code, 'BodyTooLarge');
  });

  it('replaces: the body must name the function of the path, and takes its name when it has none', async () => {
    const wrong = await send(base, '/system/functions/hello', {
      method: 'PUT',
      headers: admin,
      body: JSON.stringify(valid('other')),
    });
    assert.equal(wrong.status, 422);
    assert.deepEqual(
      wrong.json<{ fields: { field: string }[] }>().fields.map((f) => f.field),
      ['metadata.name'],
    );
    const { metadata: _, ...nameless } = valid();
    const ok = await send(base, '/system/functions/hello?namespace=team', {
      method: 'PUT',
      headers: admin,
      body: JSON.stringify({ ...nameless, metadata: { resourceVersion: '3' } }),
    });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json<FunctionResource>().metadata.resourceVersion, '8');
    const [call] = directory.calls;
    assert.deepEqual(call?.slice(0, 3), ['replace', 'team', 'hello']);
    assert.equal((call?.[3] as FunctionResource).metadata.resourceVersion, '3');
  });

  it('deletes: 202, and refuses a name or namespace that cannot be one', async () => {
    const reply = await send(base, '/system/functions/hello?namespace=team', {
      method: 'DELETE',
      headers: admin,
    });
    assert.equal(reply.status, 202);
    assert.deepEqual(directory.calls, [['remove', 'team', 'hello']]);
    const badName = await send(base, '/system/functions/Hello', { method: 'DELETE', headers: admin });
    assert.equal(badName.status, 400);
    assert.equal(badName.json().code, 'InvalidFunctionName');
    const badNamespace = await send(base, '/system/functions/hello?namespace=a%2Fb', {
      method: 'DELETE',
      headers: admin,
    });
    assert.equal(badNamespace.status, 400);
    assert.equal(badNamespace.json().code, 'InvalidNamespace');
  });

  const failures: [string, unknown, number, string][] = [
    [
      'AlreadyExists',
      new KubeApiError(409, 'AlreadyExists', 'functions.nimbus.dev "hello" already exists'),
      409,
      'AlreadyExists',
    ],
    [
      'an unreachable API server',
      new KubeApiError(0, 'Unreachable', 'connect ECONNREFUSED'),
      503,
      'KubernetesUnavailable',
    ],
    [
      'RBAC refusing the gateway',
      new KubeApiError(403, 'Forbidden', 'cannot create'),
      502,
      'KubernetesForbidden',
    ],
    ['a bug', new TypeError('cannot read properties of undefined'), 500, 'InternalError'],
  ];
  for (const [name, error, status, code] of failures) {
    it(`maps ${name} from the store to ${status} JSON, without a stack`, async () => {
      directory.fail = error;
      const reply = await post(JSON.stringify(valid()));
      assert.equal(reply.status, status);
      assert.equal(reply.json().code, code);
      assert.doesNotMatch(reply.text, /at .*\.js:\d+/);
      if (status === 500) assert.equal(reply.json().error, 'internal error');
    });
  }

  it('needs the admin scope for writes', async () => {
    assert.equal(
      (await post(JSON.stringify(valid()), '', { 'content-type': 'application/json' })).status,
      401,
    );
    const invoker = await post(JSON.stringify(valid()), '', { authorization: `Bearer ${INVOKER}` });
    assert.equal(invoker.status, 403);
    assert.deepEqual(directory.calls, []);
  });

  it('answers 405 with Allow for methods the routes do not have', async () => {
    const reply = await send(base, '/system/functions', { method: 'PATCH', headers: admin, body: '{}' });
    assert.equal(reply.status, 405);
    assert.equal(reply.headers.allow, 'GET, POST, PUT, DELETE');
  });
});

describe('/system/functions writes on a read-only directory', () => {
  it("answers 405 with the directory's reason, whatever the body", async () => {
    const { base, server } = await gatewayWith({
      list: () => [],
      get: () => undefined,
      readOnlyReason: 'change the files instead',
    });
    try {
      for (const [method, path] of [
        ['POST', '/system/functions'],
        ['PUT', '/system/functions/hello'],
        ['DELETE', '/system/functions/hello'],
      ] as const) {
        // Node's client sends a DELETE body without a length, so only POST and PUT carry one.
        const body = method === 'DELETE' ? undefined : 'not even json';
        const reply = await send(base, path, { method, headers: admin, body });
        assert.equal(reply.status, 405, `${method} ${path}`);
        assert.equal(reply.headers.allow, 'GET');
        assert.equal(reply.json().error, 'change the files instead');
      }
    } finally {
      await server.close();
    }
  });
});
