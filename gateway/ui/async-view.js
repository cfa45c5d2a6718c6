import { ApiError, api, query } from './api.js';
import { el, facts, link, replace, table, time } from './dom.js';

const callHref = (id) => `#/async/${encodeURIComponent(id)}`;

/** Dead letters, newest first, and a box to look a call up by its id. */
export async function asyncView(view, _params, showStatus) {
  const input = el('input', { id: 'call-id', placeholder: 'call id', spellcheck: false, required: true });
  const lookup = el(
    'form',
    { className: 'inline', on: { submit: (event) => lookUp(event, input) } },
    el('label', { htmlFor: 'call-id' }, 'Look up a call '),
    input,
    el('button', { type: 'submit' }, 'Open'),
  );
  const list = el('div');
  const more = el('p');
  replace(view, el('h2', {}, 'Async calls'), lookup, el('h3', {}, 'Dead letters'), list, more);
  const load = async (cursor) => {
    try {
      const page = await api(`/system/dead-letters${query({ limit: 50, cursor })}`);
      const rows = page.entries.map((d) =>
        el(
          'tr',
          { dataset: { id: d.id } },
          el('td', {}, link(callHref(d.id), d.id)),
          el('td', {}, `${d.namespace}/${d.function}`),
          el('td', {}, d.reason),
          el('td', { className: 'num' }, `${d.attempts}`),
          el('td', { className: 'message' }, d.lastError),
          el('td', {}, time(d.failedAt)),
        ),
      );
      if (cursor === undefined)
        replace(
          list,
          rows.length === 0
            ? el('p', { className: 'muted' }, 'No dead letters.')
            : table(
                ['Call', 'Function', 'Reason', 'Attempts', 'Last error', 'Failed at'],
                rows,
                'dead-letters',
              ),
        );
      else list.querySelector('tbody')?.append(...rows);
      replace(
        more,
        page.cursor === undefined
          ? ''
          : el('button', { type: 'button', on: { click: () => load(page.cursor) } }, 'More'),
      );
      showStatus();
    } catch (err) {
      showStatus(err);
    }
  };
  await load(undefined);
}

function lookUp(event, input) {
  event.preventDefault();
  location.hash = callHref(input.value.trim());
}

/** Undefined for a 404: a call with no record, or no dead letter. */
async function orNone(promise) {
  try {
    return await promise;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}

/** `{traceId}` in the operator's template, for a well-formed W3C trace id only. */
function traceLink(template, traceId) {
  if (template === undefined || typeof traceId !== 'string' || !/^[0-9a-f]{32}$/.test(traceId))
    return undefined;
  return link(template.replace('{traceId}', traceId), traceId, true);
}

function timings(record) {
  const t = record.timings ?? {};
  return ['waitMs', 'initMs', 'durationMs']
    .filter((k) => t[k] !== undefined)
    .map((k) => `${k.replace('Ms', '')} ${Math.round(t[k] * 10) / 10} ms`)
    .join(', ');
}

function recordFacts(record, tracingUiUrl) {
  return facts([
    ['Status', el('span', { className: `status-${record.status}` }, record.status)],
    ['Function', `${record.namespace}/${record.function}`],
    ['Attempts', `${record.attempts}`],
    ['Created', time(record.createdAt)],
    ['Started', record.startedAt === undefined ? undefined : time(record.startedAt)],
    ['Finished', record.finishedAt === undefined ? undefined : time(record.finishedAt)],
    ['Timings', timings(record) || undefined],
    ['Last error', record.lastError],
    [
      'Result',
      record.result === undefined
        ? undefined
        : `${record.result.statusCode}, ${record.result.size ?? ''} bytes`,
    ],
    ['Callback', record.callbackUrl],
    ['Callback error', record.callbackError],
    ['Trace', traceLink(tracingUiUrl, record.traceId)],
  ]);
}

function letterFacts(letter) {
  const headers = Object.entries(letter.request.headers).map(([name, value]) =>
    el('tr', {}, el('td', {}, name), el('td', {}, value)),
  );
  return [
    facts([
      ['Reason', letter.reason],
      ['Last error', letter.lastError],
      ['Attempts', `${letter.attempts}`],
      ['Failed at', time(letter.failedAt)],
      ['Headers not kept', letter.request.removedHeaders?.join(', ')],
      [
        'Body',
        `${letter.request.size ?? letter.request.body.length} bytes${letter.request.truncated ? ', cut' : ''}`,
      ],
    ]),
    table(['Header', 'Value'], headers, 'headers'),
    el(
      'pre',
      { className: 'body' },
      letter.request.encoding === 'base64' ? '(binary, base64)' : letter.request.body,
    ),
  ];
}

/** One call: its record, attempts and timings, and its dead letter with redrive and delete. */
export async function callView(view, [id], showStatus) {
  const [record, letter, stats] = await Promise.all([
    orNone(api(`/system/calls/${encodeURIComponent(id)}`)),
    orNone(api(`/system/dead-letters/${encodeURIComponent(id)}`)),
    api('/system/stats'),
  ]);
  const outcome = el('p', { className: 'outcome', role: 'status' });
  const act = async (what, path, method) => {
    try {
      const answer = await api(path, { method });
      outcome.textContent = what === 'redrive' ? `Queued again: ${answer.status}.` : 'Deleted.';
      for (const button of view.querySelectorAll('.actions button')) button.disabled = true;
    } catch (err) {
      showStatus(err);
    }
  };
  const withoutCredentials = el('input', { type: 'checkbox', id: 'without-credentials' });
  const base = `/system/dead-letters/${encodeURIComponent(id)}`;
  const actions = el(
    'div',
    { className: 'actions' },
    letter?.request.removedHeaders?.length
      ? el('label', {}, withoutCredentials, ' send without the headers not kept')
      : undefined,
    el(
      'button',
      {
        type: 'button',
        id: 'redrive',
        on: {
          click: () =>
            act(
              'redrive',
              `${base}/redrive${query({ withoutCredentials: withoutCredentials.checked ? 'true' : undefined })}`,
              'POST',
            ),
        },
      },
      'Redrive',
    ),
    el(
      'button',
      {
        type: 'button',
        id: 'delete',
        className: 'danger',
        on: {
          click: () => window.confirm(`Delete the dead letter of ${id}?`) && act('delete', base, 'DELETE'),
        },
      },
      'Delete',
    ),
  );
  replace(
    view,
    el('h2', {}, link('#/async', 'Async calls'), ' / ', id),
    el('h3', {}, 'Call record'),
    record === undefined
      ? el('p', { className: 'muted' }, 'No record of this call.')
      : recordFacts(record, stats.tracingUiUrl),
    el('h3', {}, 'Dead letter'),
    letter === undefined
      ? el('p', { className: 'muted' }, 'Not a dead letter.')
      : [letterFacts(letter), actions, outcome],
  );
  showStatus();
}
