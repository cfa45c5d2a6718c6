import { ApiError, api, query } from './api.js';
import { CHARTS, HistoryChart } from './charts.js';
import { el, facts, link, replace } from './dom.js';
import { errorsList, loadFunctions, notReadyReasons, scaleText } from './functions-view.js';
import { triggersTable } from './triggers-view.js';

/** One function: its facts, its triggers' health, and its plots over the history's window, redrawn every sample. */
export async function functionView(view, [namespace, name], showStatus) {
  const header = el('div');
  const triggers = el('div');
  const grid = el('div', { className: 'charts' });
  const note = el('p', { className: 'muted' });
  replace(
    view,
    el('h2', {}, link('#/functions', 'Functions'), ' / ', name),
    header,
    triggers,
    note,
    grid,
    el(
      'p',
      {},
      link(`#/logs/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`, 'Follow its logs'),
    ),
  );
  const charts = CHARTS.map((chart) => new HistoryChart(chart, grid));
  let intervalMs = 10_000;
  const draw = async () => {
    try {
      const { stats, functions } = await loadFunctions();
      intervalMs = stats.intervalMs;
      const fn = functions.find(
        (f) => f.resource.metadata.namespace === namespace && f.resource.metadata.name === name,
      );
      if (fn === undefined) throw new Error(`no function ${namespace}/${name}`);
      const reasons = notReadyReasons(fn.resource, fn.live);
      replace(
        header,
        facts([
          ['Namespace', namespace],
          ['URL', fn.live?.url],
          [
            'Replicas',
            `${fn.live?.replicas ?? 0} ready, ${fn.live?.inflight ?? 0} in flight, ${fn.live?.held ?? 0} held`,
          ],
          ['Not ready because', reasons.length === 0 ? undefined : reasons.join('; ')],
          ['Scale', scaleText(fn.resource.spec.scale)],
          ['Recent errors (5xx)', errorsList(fn.live?.recentErrors ?? [])],
        ]),
      );
      replace(triggers, triggersTable(fn.resource.status?.triggers));
      const points = Math.round((stats.points * stats.intervalMs) / 60_000);
      note.textContent = `A point every ${stats.intervalMs / 1000} s over the last ${points} minutes.`;
      const history = await api(
        `/system/functions/${encodeURIComponent(name)}/history${query({ namespace })}`,
      );
      for (const chart of charts) chart.update(history);
      showStatus();
    } catch (err) {
      // A function first seen since the last sample has no history for one interval: not a failure.
      if (err instanceof ApiError && err.status === 404 && /no history/.test(err.message))
        note.textContent = err.message;
      else showStatus(err);
    }
  };
  await draw();
  // The sample interval is known after the first draw: redraw at its pace, at least every 10 s.
  const timer = setInterval(draw, Math.min(intervalMs, 10_000));
  return () => {
    clearInterval(timer);
    for (const chart of charts) chart.destroy();
  };
}
