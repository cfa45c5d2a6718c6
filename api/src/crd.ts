import { API_VERSION, GROUP, KIND, PLURAL, SHORT_NAME, VERSION } from './function.js';
import { FUNCTION_NAME_PATTERN } from './names.js';
import { type SchemaNode, functionSpecSchema, functionStatusSchema } from './schema.js';

/**
 * A structural schema as the API server accepts it. It refuses `additionalProperties: false`
 * (unknown fields are pruned, or refused under strict field validation, instead); local mode
 * keeps it, so a typo there is an error rather than silently dropped.
 */
function structural(node: SchemaNode): SchemaNode {
  const { additionalProperties, properties, items, ...rest } = node;
  const out: SchemaNode = { ...rest };
  if (properties !== undefined) {
    out.properties = Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, structural(v)]));
  }
  if (items !== undefined) out.items = structural(items);
  if (typeof additionalProperties === 'object') out.additionalProperties = structural(additionalProperties);
  return out;
}

/** The Function CustomResourceDefinition, built from the schema local mode validates with. Pure. */
export function functionCrd(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${PLURAL}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        kind: KIND,
        plural: PLURAL,
        singular: 'function',
        shortNames: [SHORT_NAME],
        listKind: `${KIND}List`,
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
            { name: 'Replicas', type: 'integer', jsonPath: '.status.readyReplicas' },
            { name: 'URL', type: 'string', jsonPath: '.status.url' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: `${API_VERSION} ${KIND}: a function deployed by Nimbus.`,
              required: ['spec'],
              properties: {
                apiVersion: {
                  type: 'string',
                  description: `The schema version of this object: ${API_VERSION}.`,
                },
                kind: { type: 'string', description: `The kind of this object: ${KIND}.` },
                // The API server refuses anything but the type here, a description included.
                metadata: { type: 'object' },
                spec: structural(functionSpecSchema),
                status: structural(functionStatusSchema),
              },
              // A function's name becomes its Service's name, which must be an RFC 1035 label.
              'x-kubernetes-validations': [
                {
                  rule: `self.metadata.name.matches('${FUNCTION_NAME_PATTERN}')`,
                  message: 'metadata.name must be a lower-case RFC 1035 label of at most 63 characters',
                },
              ],
            },
          },
        },
      ],
    },
  };
}
