import { stream, api, query } from './api.js';
import { el, replace } from './dom.js';

/** Lines kept on the page; older ones go, so a chatty function cannot fill the tab's memory. */
const MAX_LINES = 2000;

function lineOf(entry) {
  return el(
    'div',
    { className: 'line' },
    el('time', {}, typeof entry.timestamp === 'string' ? entry.timestamp.slice(11, 23) : ''),
    el('span', { className: 'instance' }, entry.instance),
    el('span', { className: 'text' }, entry.text),
  );
}

/** Reads NDJSON lines from a streaming response until it ends or `signal` aborts. */
async function follow(response, onLine) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let rest = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    const parts = (rest + value).split('\n');
    rest = parts.pop() ?? '';
    for (const part of parts) if (part.trim() !== '') onLine(JSON.parse(part));
  }
}

/** A function's log lines, the last 200 and then live (GET /system/logs with follow). */
export async function logsView(view, [namespace, name], showStatus) {
  const functions = await api('/system/functions');
  const select = el(
    'select',
    { id: 'log-function', on: { change: () => location.assign(`#/logs/${select.value}`) } },
    el('option', { value: '' }, 'Choose a function'),
    functions.map((f) => {
      const { namespace: ns, name: n } = f.metadata;
      return el(
        'option',
        {
          value: `${encodeURIComponent(ns)}/${encodeURIComponent(n)}`,
          selected: ns === namespace && n === name,
        },
        `${ns}/${n}`,
      );
    }),
  );
  const state = el('p', { className: 'muted', id: 'log-state', role: 'status' });
  const lines = el('div', { className: 'log', id: 'log-lines' });
  replace(view, el('h2', {}, 'Logs'), el('label', {}, 'Function ', select), state, lines);
  if (name === undefined) return undefined;
  const stop = new AbortController();
  const append = (entry) => {
    const stick = lines.scrollTop + lines.clientHeight >= lines.scrollHeight - 4;
    lines.append(lineOf(entry));
    while (lines.childElementCount > MAX_LINES) lines.firstElementChild?.remove();
    if (stick) lines.scrollTop = lines.scrollHeight;
  };
  (async () => {
    try {
      const response = await stream(
        `/system/logs${query({ name, namespace, tail: 200, follow: 'true' })}`,
        stop.signal,
      );
      state.textContent = `Following ${namespace}/${name}…`;
      await follow(response, append);
      state.textContent = 'The log stream ended.';
    } catch (err) {
      if (!stop.signal.aborted) showStatus(err);
    }
  })();
  return () => stop.abort();
}
