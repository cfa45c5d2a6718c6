import assert from 'node:assert/strict';
import { eventually, send } from '@nimbus/testkit';
import type { ControlPlane } from './control-plane/control-plane.js';

/**
 * Puts `replica` behind function `fn` as the EndpointSlice controller would for its Service (one
 * ready endpoint on the port named `http`), then waits until the gateway at `gatewayBase` routes a
 * call of the function there.
 */
export async function routeToReplica(
  plane: ControlPlane,
  namespace: string,
  fn: string,
  replica: { readonly host: string; readonly port: number },
  gatewayBase: string,
): Promise<void> {
  const slice = await plane.request(
    'POST',
    `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: `${fn}-1`,
        labels: {
          'app.kubernetes.io/managed-by': 'nimbus',
          'nimbus.dev/function': fn,
          'kubernetes.io/service-name': fn,
        },
      },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: replica.port, protocol: 'TCP' }],
      endpoints: [{ addresses: [replica.host], conditions: { ready: true } }],
    },
  );
  assert.equal(slice.status, 201, JSON.stringify(slice.body));
  await eventually(
    async () => ((await send(gatewayBase, `/function/${fn}.${namespace}`)).status === 200 ? true : undefined),
    30_000,
    'the gateway to route to the replica',
  );
}
