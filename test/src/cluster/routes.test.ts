import assert from 'node:assert/strict';
import type { FunctionResource } from '@nimbus/api';
import { eventually } from '@nimbus/testkit';
import type { ControlPlane } from '../harness/control-plane/control-plane.js';
import { freshNamespace, sharedControlPlane } from '../harness/control-plane/shared.js';
import { type RunningController, startController } from '../harness/controller.js';

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

const fnDoc = (name: string, routes: unknown) => ({
  apiVersion: 'nimbus.dev/v1alpha1',
  kind: 'Function',
  metadata: { name },
  spec: { source: { inline: 'export default () => "hi"' }, http: { routes } },
});

/**
 * spec.http.routes on a real API server: the CRD's CEL refuses what the gateway could not serve,
 * naming the field, and the controller tells the later of two Functions that want the same
 * route that it did not get it (RoutesReady False, RouteConflict), and hands the route on when
 * the holder goes.
 */
describe('routes on a real API server', function () {
  this.timeout(5 * 60_000);
  let plane: ControlPlane;
  let namespace: string;
  let running: RunningController;
  const FUNCTIONS = () => `/apis/nimbus.dev/v1alpha1/namespaces/${namespace}/functions`;

  const routesReady = (name: string, status: string, reason: string) =>
    eventually(
      async () => {
        const fn = (await plane.request<FunctionResource>('GET', `${FUNCTIONS()}/${name}`)).body;
        const c = (fn.status?.conditions as Condition[] | undefined)?.find((x) => x.type === 'RoutesReady');
        return c?.status === status && c.reason === reason ? c : undefined;
      },
      20_000,
      `${name}: RoutesReady ${status} ${reason}`,
    );

  before(async () => {
    plane = await sharedControlPlane();
    namespace = await freshNamespace(plane, 'routes');
    running = await startController(plane, namespace);
  });

  after(async () => {
    await running?.stop();
  });

  const refused: [string, unknown, RegExp][] = [
    [
      'a route under /system',
      [{ path: '/system/x' }],
      /spec\.http\.routes\[0\]\.path: .*must not start with \/function/,
    ],
    [
      'a route under /_/',
      [{ path: '/_/health' }],
      /spec\.http\.routes\[0\]\.path: .*must not start with \/function/,
    ],
    [
      'a dot segment',
      [{ path: '/a/../b' }],
      /spec\.http\.routes\[0\]\.path: .*must not have \. or \.\. segments/,
    ],
    [
      'a parameter named twice',
      [{ path: '/{id}/{id...}' }],
      /spec\.http\.routes\[0\]\.path: .*must not name a parameter twice/,
    ],
    ['a wildcard not last', [{ path: '/{a...}/b' }], /spec\.http\.routes\[0\]\.path/],
    [
      'credentials for any origin',
      [{ path: '/a', cors: { allowOrigins: ['*'], allowCredentials: true } }],
      /spec\.http\.routes\[0\]\.cors\.allowCredentials: .*cannot be true/,
    ],
    [
      'the same route twice',
      [{ path: '/a' }, { path: '/a', methods: ['GET'] }],
      /spec\.http\.routes: .*must not have the same path and host twice with a method in common/,
    ],
    [
      'an unknown method',
      [{ path: '/a', methods: ['TRACE'] }],
      /spec\.http\.routes\[0\]\.methods\[0\]: Unsupported value: "TRACE"/,
    ],
    [
      'token requirements on a route without auth jwt',
      [{ path: '/a', jwt: { requiredScopes: ['orders:write'] } }],
      /spec\.http\.routes: .*may give a route jwt requirements only with auth jwt/,
    ],
  ];
  for (const [what, routes, message] of refused) {
    it(`refuses ${what}, naming the field`, async () => {
      const reply = await plane.request<{ message?: string }>('POST', FUNCTIONS(), fnDoc('refused', routes));
      assert.equal(reply.status, 422, JSON.stringify(reply.body));
      assert.match(reply.body.message ?? '', message);
    });
  }

  it('refuses the later Function a route the earlier one holds, and hands it on when that one goes', async () => {
    const first = await plane.request('POST', FUNCTIONS(), fnDoc('first', [{ path: '/api/orders/{id}' }]));
    assert.equal(first.status, 201, JSON.stringify(first.body));
    await routesReady('first', 'True', 'RoutesAccepted');
    // Same shape under another parameter name, methods overlapping (none listed: all).
    const second = await plane.request(
      'POST',
      FUNCTIONS(),
      fnDoc('second', [{ path: '/api/orders/{key}', methods: ['GET'] }]),
    );
    assert.equal(second.status, 201, JSON.stringify(second.body));
    const conflict = await routesReady('second', 'False', 'RouteConflict');
    assert.match(
      conflict.message ?? '',
      new RegExp(
        `route GET /api/orders/\\{key\\} \\(spec\\.http\\.routes\\[0\\]\\) is held by Function ${namespace}/first`,
      ),
    );
    await routesReady('first', 'True', 'RoutesAccepted');
    const gone = await plane.request('DELETE', `${FUNCTIONS()}/first`);
    assert.equal(gone.status, 200, JSON.stringify(gone.body));
    await routesReady('second', 'True', 'RoutesAccepted');
  });
});
