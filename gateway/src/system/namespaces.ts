import { isNamespace } from '@nimbus/api';
import { problems } from '../http/problems.js';
import { OPENFAAS_NAMESPACE } from '../invoke/function-path.js';

/** Namespaces as the management API reads them: checked, and `openfaas-fn` read as ours. */
export interface NamespaceReader {
  /** `?namespace=` or a body's namespace; undefined when not given or empty. */
  optional(raw: unknown): string | undefined;
  /** The same, else the default namespace. */
  orDefault(raw: unknown): string;
}

export function namespaceReader(defaultNamespace: string, openfaasNamespace: string): NamespaceReader {
  const optional = (raw: unknown): string | undefined => {
    if (raw === undefined || raw === '') return undefined;
    if (typeof raw !== 'string')
      throw problems.malformedRequest('give the namespace at most once, as a string');
    if (!isNamespace(raw)) throw problems.invalidNamespace(raw);
    return raw === OPENFAAS_NAMESPACE ? openfaasNamespace : raw;
  };
  return { optional, orDefault: (raw) => optional(raw) ?? defaultNamespace };
}
