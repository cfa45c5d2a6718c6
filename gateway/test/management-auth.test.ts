import 'reflect-metadata';
import assert from 'node:assert/strict';
import { type FunctionResource, createLogger } from '@nimbus/api';
import { send } from '@nimbus/testkit';
import { loadGatewayConfig } from '../src/config.js';
import { createGatewayContainer } from '../src/container.js';
import type { Gateway } from '../src/gateway.js';
import type { FunctionDirectory, FunctionLogLine, FunctionLogs } from '../src/ports.js';
import { TOKENS } from '../src/tokens.js';

const ADMIN = 'admin-key-0123456789';
const INVOKER = 'invoke-key-0123456789';
const basic = (key: string) => `Basic ${Buffer.from(`admin:${key}`).toString('base64')}`;

const HELLO = {
  apiVersion: 'nimbus.dev/v1alpha1',
  kind: 'Function',
  metadata: { name: 'hello', namespace: 'home' },
  spec: {
    runtime: 'node20',
    handler: 'index.default',
    scale: { min: 0, max: 2, target: 10, scaleToZeroAfter: '60s' },
  },
  status: { replicas: 1, readyReplicas: 1 },
} as unknown as FunctionResource;

/**
 * The routes OpenFaaS's API and the logs API added to /system, attacked: no key, a bare
 * `Bearer`, an invoke-scoped key (as Bearer and as Basic) and a wrong Basic password. None of
 * them may read a function's log lines or status, or write, scale or remove a function; every
 * write the directory would have done is counted, and none happens.
 */
describe('the OpenFaaS and logs routes refuse every caller without an admin key', () => {
  let server: Gateway;
  let base: string;
  const writes: string[] = [];
  let logsOpened = 0;

  before(async () => {
    const directory: FunctionDirectory = {
      list: () => [HELLO],
      get: (namespace, name) => (namespace === 'home' && name === 'hello' ? HELLO : undefined),
      create: async (fn) => {
        writes.push('create');
        return fn;
      },
      replace: async (_ns, _name, fn) => {
        writes.push('replace');
        return fn;
      },
      remove: async () => {
        writes.push('remove');
      },
      modify: async (_ns, _name, change) => {
        writes.push('modify');
        return change(HELLO);
      },
    };
    const logs: FunctionLogs = {
      open: async () => {
        logsOpened++;
        const line: FunctionLogLine = {
          name: 'hello',
          namespace: 'home',
          instance: 'r1',
          timestamp: new Date(0).toISOString(),
          text: 'a secret the function logged',
        };
        return (async function* () {
          yield line;
        })();
      },
    };
    const config = loadGatewayConfig({
      HOST: '127.0.0.1',
      PORT: '0',
      NIMBUS_API_KEYS: `admin:${ADMIN},invoke:${INVOKER}`,
      NIMBUS_DEFAULT_NAMESPACE: 'home',
    });
    server = createGatewayContainer(config, {
      directory,
      logs,
      logger: createLogger({}, 'error', () => {}),
    }).resolve<Gateway>(TOKENS.Gateway);
    base = `http://127.0.0.1:${(await server.listen()).port}`;
  });

  after(() => server.close());

  const deployment = JSON.stringify({ service: 'hello', image: 'acme/x:1', labels: {}, annotations: {} });
  const routes: [string, string, string | undefined][] = [
    ['GET', '/system/logs?name=hello&follow=false', undefined],
    ['GET', '/system/function/hello?usage=1', undefined],
    ['GET', '/system/namespaces', undefined],
    ['GET', '/system/info', undefined],
    ['PUT', '/system/functions', deployment],
    ['POST', '/system/functions', deployment],
    ['DELETE', '/system/functions', JSON.stringify({ functionName: 'hello' })],
    ['POST', '/system/scale-function/hello', JSON.stringify({ serviceName: 'hello', replicas: 5 })],
  ];
  const callers: [string, Record<string, string>, number][] = [
    ['no key', {}, 401],
    ['a bare Bearer', { authorization: 'Bearer' }, 401],
    ['a wrong Basic password', { authorization: basic('wrong-key-0000000000') }, 401],
    ['an invoke key', { authorization: `Bearer ${INVOKER}` }, 403],
    ['an invoke key as Basic', { authorization: basic(INVOKER) }, 403],
  ];
  for (const [who, headers, status] of callers) {
    it(`answers ${who} ${status} on every one of them, and nothing is read or written`, async () => {
      for (const [method, path, body] of routes) {
        const reply = await send(base, path, {
          method,
          headers: {
            ...headers,
            ...(body === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }),
          },
          ...(body === undefined ? {} : { body }),
        });
        assert.equal(reply.status, status, `${method} ${path}: ${reply.text}`);
        assert.doesNotMatch(reply.text, /secret the function logged|acme/);
      }
      assert.deepEqual(writes, []);
      assert.equal(logsOpened, 0);
    });
  }

  it('serves the same routes to the admin key, as Basic too (the attack above was not refused for another reason)', async () => {
    const reply = await send(base, '/system/logs?name=hello&follow=false', {
      headers: { authorization: basic(ADMIN) },
    });
    assert.equal(reply.status, 200);
    assert.match(reply.text, /a secret the function logged/);
    const scaled = await send(base, '/system/scale-function/hello', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${ADMIN}`,
        'content-type': 'application/json',
        'content-length': '14',
      },
      body: '{"replicas":5}',
    });
    assert.equal(scaled.status, 202, scaled.text);
    assert.deepEqual(writes, ['modify']);
  });
});
