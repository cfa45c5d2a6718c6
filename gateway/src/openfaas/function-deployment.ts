import {
  API_VERSION,
  type EnvVar,
  type FieldError,
  type FunctionResource,
  KIND,
  isDuration,
  isFunctionName,
  validateFunction,
} from '@nimbus/api';
import { problems } from '../http/problems.js';
import { FPROCESS } from './function-status.js';
import type { FunctionDeployment } from './openfaas-types.js';

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Where OpenFaaS's watchdogs (classic and of-watchdog) answer their health check. */
export const OPENFAAS_HEALTH_PATH = '/_/health';

/** OpenFaaS's labels and annotations that say how a function scales and is checked. */
export const OPENFAAS_LABELS = {
  scaleMin: 'com.openfaas.scale.min',
  scaleMax: 'com.openfaas.scale.max',
  scaleTarget: 'com.openfaas.scale.target',
  scaleZero: 'com.openfaas.scale.zero',
  scaleZeroDuration: 'com.openfaas.scale.zero-duration',
  healthPath: 'com.openfaas.health.http.path',
} as const;

/** Whether a `POST`/`PUT /system/functions` body is OpenFaaS's deployment rather than a Function. */
export function isDeployment(body: unknown): body is FunctionDeployment {
  return isObject(body) && typeof body.service === 'string' && body.kind === undefined;
}

/**
 * The Function an OpenFaaS deployment request (faas-cli deploy) stands for: a container
 * function running the image on port 8080, ready when the watchdog's /_/health answers (or the
 * path the com.openfaas.health.http.path annotation names), with OpenFaaS's scaling labels read
 * into spec.scale. Checked against the CRD's schema and rules, each problem named by the
 * deployment's own field. `namespace` is settled by the caller. Throws a Problem.
 */
export function functionFromDeployment(body: unknown, namespace: string): FunctionResource {
  if (!isDeployment(body)) {
    throw problems.malformedRequest(
      'the body must be a JSON object: an OpenFaaS function deployment with "service"',
    );
  }
  const errors: FieldError[] = [];
  if (!isFunctionName(body.service)) {
    errors.push({
      field: 'service',
      message: 'must be a lower-case RFC 1035 label of at most 63 characters',
    });
  }
  if (typeof body.image !== 'string' || body.image === '')
    errors.push({ field: 'image', message: 'is required' });
  const labels = stringMap(body.labels, 'labels', errors);
  const annotations = stringMap(body.annotations, 'annotations', errors);
  const envVars = stringMap(body.envVars, 'envVars', errors);
  if (body.envProcess !== undefined && typeof body.envProcess !== 'string')
    errors.push({ field: 'envProcess', message: 'must be a string' });
  const env: EnvVar[] = Object.entries(envVars)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => ({ name, value }));
  if (typeof body.envProcess === 'string' && body.envProcess !== '')
    env.push({ name: FPROCESS, value: body.envProcess });
  const scale = scaleFrom(labels, errors);
  const healthPath = annotations[OPENFAAS_LABELS.healthPath] ?? OPENFAAS_HEALTH_PATH;
  if (errors.length > 0) throw problems.invalidFunction(errors);
  // Checked by validateFunction below, as a Function from any other source is.
  const spec: Json = {
    runtime: 'container',
    image: body.image,
    readiness: { httpGet: { path: healthPath } },
    ...(env.length === 0 ? {} : { env }),
    ...(body.secrets === undefined ? {} : { secrets: body.secrets }),
    ...resourcesOf(body.limits, body.requests),
    ...(scale === undefined ? {} : { scale }),
  };
  const fn = {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: {
      name: body.service,
      namespace,
      ...(Object.keys(labels).length === 0 ? {} : { labels }),
      ...(Object.keys(annotations).length === 0 ? {} : { annotations }),
    },
    spec,
  };
  const checked = validateFunction(fn);
  if (!checked.ok) throw problems.invalidFunction(checked.errors.map(inDeploymentTerms));
  return fn as unknown as FunctionResource;
}

function stringMap(value: unknown, field: string, errors: FieldError[]): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    errors.push({ field, message: 'must be an object of string values' });
    return {};
  }
  return value as Record<string, string>;
}

function resourcesOf(limits: unknown, requests: unknown): Json {
  const pick = (list: unknown): Record<string, string> => {
    if (!isObject(list)) return {};
    const out: Record<string, string> = {};
    for (const key of ['cpu', 'memory'] as const) {
      const value = list[key];
      // The schema checks the quantity; a wrong type gets its pattern's message from it too.
      if (value !== undefined && value !== '') out[key] = value as string;
    }
    return out;
  };
  const resources: Json = {};
  const l = pick(limits);
  const r = pick(requests);
  if (Object.keys(l).length > 0) resources.limits = l;
  if (Object.keys(r).length > 0) resources.requests = r;
  return Object.keys(resources).length === 0 ? {} : { resources };
}

/** spec.scale from OpenFaaS's scaling labels, where any is given. */
function scaleFrom(
  labels: Record<string, string>,
  errors: FieldError[],
): Record<string, unknown> | undefined {
  const scale: Record<string, unknown> = {};
  const whole = (label: string, key: string, min: number) => {
    const raw = labels[label];
    if (raw === undefined) return;
    if (!/^\d+$/.test(raw) || Number(raw) < min) {
      errors.push({ field: `labels.${label}`, message: `must be a whole number of at least ${min}` });
      return;
    }
    scale[key] = Number(raw);
  };
  whole(OPENFAAS_LABELS.scaleMin, 'min', 0);
  whole(OPENFAAS_LABELS.scaleMax, 'max', 1);
  whole(OPENFAAS_LABELS.scaleTarget, 'target', 1);
  const zero = labels[OPENFAAS_LABELS.scaleZero];
  if (zero !== undefined) {
    if (zero !== 'true' && zero !== 'false')
      errors.push({ field: `labels.${OPENFAAS_LABELS.scaleZero}`, message: 'must be true or false' });
    // Nimbus scales to zero unless min says otherwise; "false" keeps at least one replica.
    else if (zero === 'false') scale.min = Math.max(1, (scale.min as number | undefined) ?? 1);
    else scale.min = 0;
  }
  const idle = labels[OPENFAAS_LABELS.scaleZeroDuration];
  if (idle !== undefined) {
    if (!isDuration(idle))
      errors.push({
        field: `labels.${OPENFAAS_LABELS.scaleZeroDuration}`,
        message: 'must be a duration such as 15m',
      });
    else scale.scaleToZeroAfter = idle;
  }
  return Object.keys(scale).length === 0 ? undefined : scale;
}

/** A Function's field, named as the deployment request names it. */
function inDeploymentTerms(error: FieldError): FieldError {
  const renames: [string, string][] = [
    ['metadata.name', 'service'],
    ['metadata.labels', 'labels'],
    ['metadata.annotations', 'annotations'],
    ['spec.image', 'image'],
    ['spec.env', 'envVars'],
    ['spec.secrets', 'secrets'],
    ['spec.resources.limits', 'limits'],
    ['spec.resources.requests', 'requests'],
    ['spec.readiness.httpGet.path', `annotations.${OPENFAAS_LABELS.healthPath}`],
    ['spec.scale', 'labels (com.openfaas.scale.*)'],
  ];
  for (const [from, to] of renames) {
    if (error.field === from || error.field.startsWith(`${from}.`) || error.field.startsWith(`${from}[`))
      return { field: to + error.field.slice(from.length), message: error.message };
  }
  return error;
}
