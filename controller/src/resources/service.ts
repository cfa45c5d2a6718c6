import type { FunctionResource } from '@nimbus/api';
import { FUNCTION_LABEL, ownedMetadata } from './metadata.js';
import type { Service } from './objects.js';

/** The Service whose EndpointSlices tell the gateway which replicas are ready. Pure. */
export function buildService(fn: FunctionResource): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMetadata(fn, fn.metadata.name),
    spec: {
      type: 'ClusterIP',
      selector: { [FUNCTION_LABEL]: fn.metadata.name },
      ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }],
    },
  };
}
