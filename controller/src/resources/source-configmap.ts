import type { FunctionResource } from '@nimbus/api';
import { handlerOf, inlineFileName } from '@nimbus/api';
import { ownedMetadata } from './metadata.js';
import type { ConfigMap } from './objects.js';

/** The API server refuses a ConfigMap whose data exceeds 1 MiB. */
export const CONFIGMAP_LIMIT_BYTES = 1024 * 1024;

export class SourceTooLargeError extends Error {
  constructor(readonly bytes: number) {
    super(`spec.source.inline is ${bytes} bytes; a ConfigMap holds at most ${CONFIGMAP_LIMIT_BYTES}`);
    this.name = 'SourceTooLargeError';
  }
}

export function sourceConfigMapName(fn: FunctionResource): string {
  return `${fn.metadata.name}-source`;
}

/**
 * The ConfigMap holding a Function's inline code, as the file its handler names; undefined
 * when the code comes from an image. Throws SourceTooLargeError rather than let the API server
 * refuse the object later with a less useful message.
 */
export function buildSourceConfigMap(fn: FunctionResource): ConfigMap | undefined {
  const inline = fn.spec.source?.inline;
  if (inline === undefined) return undefined;
  const bytes = Buffer.byteLength(inline);
  if (bytes > CONFIGMAP_LIMIT_BYTES) throw new SourceTooLargeError(bytes);
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: ownedMetadata(fn, sourceConfigMapName(fn)),
    // A ConfigMap key cannot hold '/': a handler module in a subfolder is flattened here and
    // mounted back into place through the volume's items in the Deployment.
    data: { [inlineFileName(handlerOf(fn.spec), fn.spec.runtime).replaceAll('/', '__')]: inline },
  };
}
