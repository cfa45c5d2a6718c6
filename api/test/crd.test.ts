import assert from 'node:assert/strict';
import { functionCrd } from '../src/crd.js';
import type { SchemaNode } from '../src/schema.js';

interface Version {
  name: string;
  schema: { openAPIV3Schema: SchemaNode };
}

const versions = () => (functionCrd().spec as { versions: Version[] }).versions;

/**
 * The top-level metadata is ObjectMeta: the API server refuses a CRD that says anything of it but
 * its type, and `kubectl explain` describes it from Kubernetes' own schema.
 */
const OBJECT_META = 'metadata';

/** Paths as `kubectl explain` takes them (`spec.env.name`), with `[]` marking the items of a list. */
function undescribed(node: SchemaNode, path: string): string[] {
  const out: string[] = [];
  for (const [name, property] of Object.entries(node.properties ?? {})) {
    const at = path === '' ? name : `${path}.${name}`;
    if (at === OBJECT_META) continue;
    if (typeof property.description !== 'string' || property.description.trim() === '') out.push(at);
    out.push(...undescribed(property, at));
  }
  if (node.items !== undefined) out.push(...undescribed(node.items, `${path}[]`));
  if (typeof node.additionalProperties === 'object')
    out.push(...undescribed(node.additionalProperties, `${path}{}`));
  return out;
}

/** The property at a dotted path, through the items of lists. */
function propertyAt(root: SchemaNode, path: string): SchemaNode {
  let node = root;
  for (const step of path.split('.')) {
    const next = (node.items ?? node).properties?.[step];
    assert.ok(next !== undefined, `no property ${path}`);
    node = next;
  }
  return node;
}

describe('the Function CRD', () => {
  for (const version of versions()) {
    it(`${version.name}: every property has a description for kubectl explain`, () => {
      assert.deepEqual(
        undescribed(version.schema.openAPIV3Schema, ''),
        [],
        'properties without a description',
      );
    });
  }

  it('says in each description the default, limits and rules its property holds', () => {
    const root = versions()[0]?.schema.openAPIV3Schema as SchemaNode;
    const description = (path: string) => propertyAt(root, path).description ?? '';
    assert.match(description('spec.concurrency'), /Between 1 and 10000\. Default: 50\.$/);
    assert.match(description('spec.timeout'), /must be more than 0s and at most 1h\. Default: 30s\.$/i);
    assert.match(description('spec.scale.min'), /min must not exceed max/i);
    assert.match(description('spec.env.name'), /NIMBUS_ are reserved/);
    assert.match(
      description('spec.triggers'),
      /exactly one of nats, schedule, postgres, s3, rabbitmq, mqtt, webhook/i,
    );
    assert.match(description('spec.async.retryOn'), /Each entry: between 400 and 599\. Default: 429, 500/);
    assert.match(description('spec.http.auth'), /One of: none, key, jwt\. Default: none\.$/);
  });
});
