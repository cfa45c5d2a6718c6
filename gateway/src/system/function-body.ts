import { type FunctionResource, isFunctionName, isNamespace, validateFunction } from '@nimbus/api';
import { problems } from '../http/problems.js';

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const mismatch = (field: string, message: string) => problems.invalidFunction([{ field, message }]);

/** `?namespace=` when given: once, and a valid namespace. */
function queryNamespace(raw: unknown): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') throw problems.malformedRequest('give ?namespace= at most once');
  if (!isNamespace(raw)) throw problems.invalidNamespace(raw);
  return raw;
}

/**
 * The Function a POST or PUT body describes, with its namespace settled (the body's, else
 * `?namespace=`, else the default) and checked against the CRD's schema and rules, so a bad body
 * is refused with the field named before the API server is asked. Throws a Problem.
 */
function checkedFunction(body: unknown, rawNamespace: unknown, defaultNamespace: string, name?: string) {
  if (!isObject(body)) throw problems.malformedRequest('the body must be a JSON object: a Function resource');
  const fromQuery = queryNamespace(rawNamespace);
  const metadata = isObject(body.metadata) ? { ...body.metadata } : undefined;
  if (metadata !== undefined) {
    if (metadata.namespace === undefined) metadata.namespace = fromQuery ?? defaultNamespace;
    else if (fromQuery !== undefined && metadata.namespace !== fromQuery)
      throw mismatch(
        'metadata.namespace',
        `is "${String(metadata.namespace)}" but ?namespace= is "${fromQuery}"`,
      );
    if (name !== undefined) {
      if (metadata.name === undefined) metadata.name = name;
      else if (metadata.name !== name)
        throw mismatch('metadata.name', `is "${String(metadata.name)}" but the path names "${name}"`);
    }
  }
  const candidate = metadata === undefined ? body : { ...body, metadata };
  const checked = validateFunction(candidate);
  if (!checked.ok) throw problems.invalidFunction(checked.errors);
  // The body as given, not the defaulted copy: the API server applies the same defaults itself.
  return candidate as unknown as FunctionResource;
}

export function functionToCreate(
  body: unknown,
  rawNamespace: unknown,
  defaultNamespace: string,
): FunctionResource {
  return checkedFunction(body, rawNamespace, defaultNamespace);
}

/** A PUT body must name the function of its path; without a name it takes the path's. */
export function functionToReplace(
  body: unknown,
  name: string,
  rawNamespace: unknown,
  defaultNamespace: string,
): FunctionResource {
  if (!isFunctionName(name)) throw problems.invalidFunctionName(name);
  return checkedFunction(body, rawNamespace, defaultNamespace, name);
}

/** The function a DELETE names: path name and `?namespace=` (else the default), both checked. */
export function targetOf(
  name: string,
  rawNamespace: unknown,
  defaultNamespace: string,
): { name: string; namespace: string } {
  if (!isFunctionName(name)) throw problems.invalidFunctionName(name);
  return { name, namespace: queryNamespace(rawNamespace) ?? defaultNamespace };
}
