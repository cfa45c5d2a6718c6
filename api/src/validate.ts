import { Ajv, type ErrorObject } from 'ajv';
import { DEFAULT_NAMESPACE, type FunctionResource, type FunctionSpec } from './function.js';
import { CROSS_FIELD_RULES, type CrossFieldRule } from './rules.js';
import { PATTERN_HINTS, functionDocumentSchema } from './schema.js';

/** One problem with a Function, naming the field as a user would write it: `spec.scale.min`. */
export interface FieldError {
  field: string;
  message: string;
}

export type ValidationResult = { ok: true; value: FunctionResource } | { ok: false; errors: FieldError[] };

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true });
// The Kubernetes extensions are for the API server; here they only need to be accepted.
ajv.addKeyword('x-kubernetes-validations');
ajv.addKeyword('x-kubernetes-list-type');
ajv.addKeyword('x-kubernetes-list-map-keys');
const checkDocument = ajv.compile(functionDocumentSchema);

/** `/spec/env/0/name` → `spec.env[0].name` */
function fieldOf(instancePath: string, child?: string): string {
  const steps = instancePath.split('/').slice(1);
  if (child !== undefined) steps.push(child);
  let out = '';
  for (const step of steps) {
    out += /^\d+$/.test(step) ? `[${step}]` : out === '' ? step : `.${step}`;
  }
  return out === '' ? '(document)' : out;
}

function describe(error: ErrorObject): FieldError {
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return { field: fieldOf(error.instancePath, String(params.missingProperty)), message: 'is required' };
    case 'additionalProperties':
      return {
        field: fieldOf(error.instancePath, String(params.additionalProperty)),
        message: 'is not a known field',
      };
    case 'enum':
      return {
        field: fieldOf(error.instancePath),
        message: `must be one of: ${(params.allowedValues as unknown[]).join(', ')}`,
      };
    case 'pattern': {
      const pattern = String(params.pattern);
      return {
        field: fieldOf(error.instancePath),
        message: PATTERN_HINTS[pattern] ?? `must match ${pattern}`,
      };
    }
    default:
      return { field: fieldOf(error.instancePath), message: error.message ?? 'is not valid' };
  }
}

/**
 * Checks a parsed Function document against the same schema and rules the CRD carries and
 * returns it with defaults applied. The input is not modified.
 */
export function validateFunction(document: unknown): ValidationResult {
  const candidate = structuredClone(document);
  if (candidate === null || typeof candidate !== 'object' || Array.isArray(candidate)) {
    return { ok: false, errors: [{ field: '(document)', message: 'must be a YAML mapping' }] };
  }
  if (!checkDocument(candidate)) {
    const errors = (checkDocument.errors ?? []).map(describe);
    return { ok: false, errors: dedupe(errors) };
  }
  const value = candidate as unknown as FunctionResource;
  value.metadata.namespace ??= DEFAULT_NAMESPACE;
  const errors = CROSS_FIELD_RULES.flatMap((rule) => brokenRule(rule, value.spec));
  return errors.length === 0 ? { ok: true, value } : { ok: false, errors };
}

/** Runs a rule on the node it sits on (each item of a list) and names the field where it fails. */
function brokenRule(rule: CrossFieldRule, spec: FunctionSpec): FieldError[] {
  let node: unknown = spec;
  let path = 'spec';
  for (const step of rule.at.split('.').filter(Boolean)) {
    node = (node as Record<string, unknown> | undefined)?.[step];
    path += `.${step}`;
  }
  if (node === undefined) return [];
  const nodes = Array.isArray(node)
    ? node.map((item, i) => [item, `${path}[${i}]`] as const)
    : [[node, path] as const];
  return nodes
    .filter(([self]) => !rule.holds(self))
    .map(([, at]) => ({ field: rule.field === '' ? at : `${at}.${rule.field}`, message: rule.message }));
}

function dedupe(errors: FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.field}\0${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function formatFieldErrors(errors: readonly FieldError[]): string {
  return errors.map((e) => `${e.field}: ${e.message}`).join('; ');
}
