import { el, table } from './dom.js';

/** `connected: true/false` as a word; blank before any reader has reported. */
function connection(connected) {
  if (connected === undefined) return '';
  return connected ? 'connected' : 'disconnected';
}

/** RFC 3339 (status.triggers[].lastEventTime) as local time; blank when there is none. */
function when(rfc3339) {
  if (typeof rfc3339 !== 'string') return '';
  const ms = Date.parse(rfc3339);
  return Number.isNaN(ms) ? rfc3339 : new Date(ms).toLocaleString();
}

function row(trigger) {
  return el(
    'tr',
    { dataset: { trigger: String(trigger.name) } },
    el('td', {}, trigger.name),
    el('td', {}, trigger.kind),
    el('td', { className: trigger.ready ? 'ok' : 'warn' }, trigger.ready ? 'ready' : 'not ready'),
    el('td', {}, trigger.reason, el('div', { className: 'reason' }, trigger.message)),
    el('td', { className: trigger.connected === false ? 'warn' : '' }, connection(trigger.connected)),
    el('td', { className: 'num' }, trigger.backlog),
    el('td', { className: 'message' }, trigger.lastError),
    el('td', {}, when(trigger.lastEventTime)),
  );
}

/**
 * A function's event-source triggers as its status has them (status.triggers): set up on their
 * origin or why not, and how their readers are doing. Reasons, messages and errors quote what a
 * function author wrote in the spec and what an origin answered, so like everything else on the
 * page they go in as text only. Nothing for a function without such triggers.
 */
export function triggersTable(triggers) {
  if (!Array.isArray(triggers) || triggers.length === 0) return undefined;
  return el(
    'section',
    { className: 'triggers' },
    el('h3', {}, 'Event-source triggers'),
    table(
      ['Name', 'Kind', 'Ready', 'Reason', 'Connected', 'Backlog', 'Last error', 'Last event'],
      triggers.map(row),
      'triggers',
    ),
  );
}
