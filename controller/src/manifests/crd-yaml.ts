import { functionCrd } from '@nimbus/api';
import { stringify } from 'yaml';

/** Where the rendered CRD is kept, relative to the repository root: the bundle and the chart. */
export const CRD_FILES = ['manifests/crds/functions.nimbus.dev.yaml', 'charts/nimbus/crds/functions.nimbus.dev.yaml'];

/** The Function CRD as the YAML `kubectl apply -f` and Helm read. Pure; `npm run manifests` writes it. */
export function functionCrdYaml(): string {
  const header = '# Generated from api/src/schema.ts by `npm run manifests`; edit the schema, not this file.\n';
  return header + stringify(functionCrd(), { lineWidth: 0 });
}
