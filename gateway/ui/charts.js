import { el } from './dom.js';
import uPlot from './vendor/uPlot.esm.js';

/**
 * The plots of a function's history (GET /system/functions/{name}/history): each chart draws some
 * of its columns against time, and says the latest value of each in text under it (for a reader
 * who cannot see the canvas, and for the tests).
 */
export const CHARTS = [
  {
    id: 'traffic',
    title: 'Invocations and errors per second',
    series: [
      { field: 'invocationsPerSecond', label: 'invocations/s', stroke: '#2f6fde' },
      { field: 'errorsPerSecond', label: '5xx/s', stroke: '#d33' },
    ],
  },
  {
    id: 'latency',
    title: 'Latency (ms)',
    series: [
      { field: 'latencyP50Ms', label: 'p50 ms', stroke: '#2f6fde' },
      { field: 'latencyP99Ms', label: 'p99 ms', stroke: '#e08a00' },
    ],
  },
  {
    id: 'concurrency',
    title: 'Concurrency against replicas',
    series: [
      { field: 'concurrency', label: 'in flight (average)', stroke: '#2f6fde' },
      { field: 'replicas', label: 'ready replicas', stroke: '#2a9d4b' },
    ],
  },
  {
    id: 'cold-starts',
    title: 'Cold starts and their duration',
    series: [
      { field: 'coldStarts', label: 'cold starts', stroke: '#7b3fd0' },
      { field: 'coldStartMs', label: 'mean wait ms', stroke: '#e08a00', scale: 'ms' },
    ],
  },
];

function options(chart, width) {
  const scales = new Set(chart.series.map((s) => s.scale ?? 'y'));
  return {
    width,
    height: 180,
    scales: { x: { time: true } },
    // The labels only: the latest values are in the line under the chart.
    legend: { live: false },
    series: [
      {},
      ...chart.series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, scale: s.scale ?? 'y' })),
    ],
    axes: [{}, ...[...scales].map((scale, i) => ({ scale, side: i === 0 ? 3 : 1, grid: { show: i === 0 } }))],
  };
}

function latest(column) {
  for (let i = column.length - 1; i >= 0; i--) if (column[i] !== null) return column[i];
  return null;
}

/** One chart's card: a uPlot, and a line of its latest values. */
export class HistoryChart {
  constructor(chart, parent) {
    this.chart = chart;
    this.summary = el('p', { className: 'latest' });
    const plot = el('div', { className: 'plot' });
    this.card = el(
      'figure',
      { className: 'chart', dataset: { chart: chart.id } },
      el('figcaption', {}, chart.title),
      plot,
      this.summary,
    );
    parent.append(this.card);
    const width = Math.max(300, Math.min(560, parent.clientWidth / 2 - 24));
    this.plot = new uPlot(options(chart, width), [[], ...chart.series.map(() => [])], plot);
  }

  update(history) {
    // uPlot's time scale is in seconds.
    const xs = history.t.map((t) => t / 1000);
    this.plot.setData([xs, ...this.chart.series.map((s) => history[s.field])]);
    this.summary.textContent = this.chart.series
      .map((s) => {
        const value = latest(history[s.field]);
        return `${s.label}: ${value === null ? '–' : value}`;
      })
      .join(' · ');
  }

  destroy() {
    this.plot.destroy();
  }
}
