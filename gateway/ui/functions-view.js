import { api } from './api.js';
import { el, link, replace, table, time } from './dom.js';

const REFRESH_MS = 5000;

/** Why a function is not ready: its route's reason, or its conditions that are not True. */
export function notReadyReasons(resource, live) {
  const reasons = [];
  if (live?.failure !== undefined) reasons.push(live.failure);
  else if (live?.unavailableReason !== undefined) reasons.push(live.unavailableReason);
  for (const c of resource.status?.conditions ?? [])
    if (c.status !== 'True') reasons.push(`${c.type}: ${c.reason ?? ''} ${c.message ?? ''}`.trim());
  return reasons;
}

/** Functions and their live stats, joined by namespace/name. */
export async function loadFunctions() {
  const [resources, stats] = await Promise.all([api('/system/functions'), api('/system/stats')]);
  const live = new Map(stats.functions.map((f) => [`${f.namespace}/${f.name}`, f]));
  return {
    stats,
    functions: resources.map((resource) => ({
      resource,
      live: live.get(`${resource.metadata.namespace}/${resource.metadata.name}`),
    })),
  };
}

export function scaleText(scale) {
  if (scale === undefined) return '';
  return `${scale.min}–${scale.max} replicas, target ${scale.target} in flight, to zero after ${scale.scaleToZeroAfter}`;
}

export function errorsList(errors) {
  if (errors.length === 0) return el('span', { className: 'muted' }, 'none');
  return el(
    'ul',
    { className: 'errors' },
    errors.map((e) => el('li', {}, `${e.count} × ${e.code} by ${time(e.at)}`)),
  );
}

function row({ resource, live }) {
  const { name, namespace } = resource.metadata;
  const reasons = notReadyReasons(resource, live);
  const ready = reasons.length === 0 && (live?.replicas ?? 0) > 0;
  return el(
    'tr',
    { dataset: { function: `${namespace}/${name}` } },
    el('td', {}, link(`#/functions/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`, name)),
    el('td', {}, namespace),
    el(
      'td',
      { className: ready ? 'ok' : 'warn' },
      ready ? 'ready' : (live?.replicas ?? 0) === 0 && reasons.length === 0 ? 'at zero' : 'not ready',
      reasons.map((r) => el('div', { className: 'reason' }, r)),
    ),
    el('td', { className: 'num' }, `${live?.replicas ?? 0}`),
    el('td', { className: 'num' }, `${live?.inflight ?? 0}`),
    el('td', {}, el('code', {}, live?.url ?? '')),
    el('td', {}, scaleText(resource.spec.scale)),
    el('td', {}, errorsList(live?.recentErrors ?? [])),
  );
}

/** Every function: status, replicas, readiness reasons, URL, scale settings and recent errors. */
export async function functionsView(view, _params, showStatus) {
  const body = el('div');
  replace(view, el('h2', {}, 'Functions'), body);
  const draw = async () => {
    try {
      const { functions } = await loadFunctions();
      replace(
        body,
        functions.length === 0
          ? el('p', { className: 'muted' }, 'No functions yet.')
          : table(
              ['Name', 'Namespace', 'Status', 'Replicas', 'In flight', 'URL', 'Scale', 'Recent errors (5xx)'],
              functions.map(row),
              'functions',
            ),
      );
      showStatus();
    } catch (err) {
      showStatus(err);
    }
  };
  await draw();
  const timer = setInterval(draw, REFRESH_MS);
  return () => clearInterval(timer);
}
