import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { eventually, send } from '@nimbus/testkit';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { ADMIN_KEY, LocalModeProcess } from '../harness/local-mode-process.js';

const admin = { authorization: `Bearer ${ADMIN_KEY}` };

const NODE = `
export default (event) => ({ runtime: 'node', params: event.params, header: 'x-nimbus-params' in event.headers, path: event.path });
`;

const PYTHON = `
def handle(event, ctx):
    return {"runtime": "python", "params": event.params, "header": "x-nimbus-params" in event.headers, "path": event.path}
`;

interface Answer {
  runtime: string;
  params: Record<string, string>;
  header: boolean;
  path: string;
}

/**
 * spec.http.routes in local mode, with real runtime-node and runtime-python replicas: the
 * parameters reach the handler as event.params, never as a header, and a route another Function
 * holds is refused with RoutesReady False.
 */
describe("a Function's own routes, in local mode", function () {
  this.timeout(60_000);
  let platform: LocalModeProcess;
  let dir: string;

  before(async () => {
    dir = await functionsFolder({
      'orders.yaml': inlineFunction(
        'orders',
        NODE,
        `scale: { min: 1 }
http:
  routes:
    - path: /api/orders/{id}
      methods: [GET]
    - path: /files/{path...}`,
      ),
      'py.yaml': inlineFunction(
        'py',
        PYTHON,
        `runtime: python3.11
scale: { min: 1 }
http:
  routes:
    - path: /py/{name}/items/{item}`,
      ),
      // Loaded in the same second as orders: the tie goes by namespace/name, and orders < thief.
      'thief.yaml': inlineFunction(
        'thief',
        NODE,
        `scale: { min: 0 }
http:
  routes:
    - path: /api/orders/{other}
    - path: /thief`,
      ),
    });
    platform = await LocalModeProcess.start(dir);
  });

  after(async () => {
    const code = await platform?.stop();
    assert.equal(code, 0);
    await rm(dir, { recursive: true, force: true });
  });

  const answer = (path: string, headers: Record<string, string> = {}) =>
    eventually(
      async () => {
        const r = await send(platform.url, path, { headers });
        return r.status === 200 ? r.json<Answer>() : undefined;
      },
      30_000,
      `${path} to answer`,
    );

  it('hands runtime-node the parameters as event.params, decoded, and not as a header', async () => {
    const got = await answer('/api/orders/caf%C3%A9?x=1', {
      'x-nimbus-params': '{"id":"forged","admin":"1"}',
    });
    assert.deepEqual(got, {
      runtime: 'node',
      params: { id: 'café' },
      header: false,
      path: '/api/orders/caf%C3%A9',
    });
    const rest = await answer('/files/a/b%2Fc.txt');
    assert.deepEqual(rest.params, { path: 'a/b/c.txt' });
  });

  it('hands runtime-python the parameters as event.params', async () => {
    const got = await answer('/py/ada/items/42', { 'x-nimbus-params': '{"name":"forged"}' });
    assert.deepEqual(got, {
      runtime: 'python',
      params: { name: 'ada', item: '42' },
      header: false,
      path: '/py/ada/items/42',
    });
  });

  it('gives /function/{name} calls no parameters, even when the caller sends some', async () => {
    const node = await answer('/function/orders/x', { 'x-nimbus-params': '{"id":"forged"}' });
    assert.deepEqual(node.params, {});
    const python = await answer('/function/py', { 'x-nimbus-params': '{"name":"forged"}' });
    assert.deepEqual(python.params, {});
  });

  it('refuses the later Function a route the earlier one holds, and says so in its status', async () => {
    const thief = await send(platform.url, '/system/functions/thief', { headers: admin });
    assert.equal(thief.status, 200);
    const conditions = thief.json<{
      status: { conditions: { type: string; status: string; reason: string; message: string }[] };
    }>().status.conditions;
    const routes = conditions.find((c) => c.type === 'RoutesReady');
    assert.equal(routes?.status, 'False');
    assert.equal(routes?.reason, 'RouteConflict');
    assert.match(
      routes?.message ?? '',
      /route any method \/api\/orders\/\{other\} \(spec\.http\.routes\[0\]\) is held by Function default\/orders/,
    );
    const orders = await send(platform.url, '/system/functions/orders', { headers: admin });
    const held = orders.json<{ status: { conditions: { type: string; status: string }[] } }>().status
      .conditions;
    assert.equal(held.find((c) => c.type === 'RoutesReady')?.status, 'True');
    // The refused route is not served by thief for any method; its other route is.
    assert.equal((await send(platform.url, '/api/orders/1', { method: 'POST' })).status, 405);
    assert.equal((await answer('/thief')).path, '/thief');
  });
});
