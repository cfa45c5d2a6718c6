import { VERDICT_COLUMNS, formatNumber, formatTable, verdict } from './table.js';

/** What a cold start is held to; each figure is compared with a baseline from the same run. */
export const COLDSTART_TARGETS = {
  maxP50MsNoPool: 200,
  /** A Python function at zero, no pool, over a bare Python http.server's spawn → first 200. */
  maxPythonRatioNoPool: 1.3,
  /** A Python function at zero taking over a runtime-python process of the warm pool. */
  maxPythonP50MsPool: 40,
  maxP50MsPool: 30,
  maxP50MsWakeToRaised: 20,
  maxP50MsEndpointReadyToForwarded: 5,
  /** A request at zero through a warm-pool pod, on the API-server harness and on a real node (issue 14). */
  maxP50MsClusterPool: 50,
  /** A request at zero through a new pod on a real node: not waiting for the kubelet's probe period. */
  maxP50MsRealNodeNewPod: 700,
} as const;

/** The coldstart bench's tables: local mode, the API-server harness, the real node, the verdicts. */
export function render(r: {
  runs: number;
  pool_size: number;
  p50_ms_no_pool: number;
  p99_ms_no_pool: number;
  p50_ms_pool: number;
  p99_ms_pool: number;
  baseline_p50_ms: number;
  baseline_p99_ms: number;
  ratio_no_pool_to_baseline: number;
  ratio_pool_to_baseline: number;
  pass_p50_no_pool: boolean;
  pass_p50_pool: boolean;
  python_p50_ms_no_pool: number;
  python_p99_ms_no_pool: number;
  python_baseline_p50_ms: number;
  python_baseline_p99_ms: number;
  ratio_python_no_pool_to_baseline: number;
  pass_python_ratio_no_pool: boolean;
  python_p50_ms_pool: number;
  python_p99_ms_pool: number;
  pass_python_p50_pool: boolean;
  cluster_runs: number;
  p50_ms_wake_to_raised: number;
  p50_ms_controller_wake: number;
  p50_ms_endpoint_ready_to_forwarded: number;
  p50_ms_cluster_request_to_response: number;
  p99_ms_cluster_request_to_response: number;
  p50_ms_cluster_pool: number;
  p99_ms_cluster_pool: number;
  p50_ms_cluster_pool_controller_wake: number;
  p50_ms_cluster_pool_wake_answer: number;
  p50_ms_cluster_pool_endpoint_ready_to_forwarded: number;
  pass_p50_cluster_pool: boolean;
  real_node_skipped?: string;
  pass_real_node_p50_pool?: boolean;
  pass_real_node_p50_new_pod?: boolean;
  real_node_p50_ms_pool?: number;
  real_node_p99_ms_pool?: number;
  real_node_p50_ms_new_pod?: number;
  real_node_p99_ms_new_pod?: number;
  pass_p50_wake_to_raised: boolean;
  pass_p50_endpoint_ready_to_forwarded: boolean;
}): string {
  const row = (label: string, p50: number, p99: number) => [
    label,
    String(r.runs),
    formatNumber(p50, 1),
    formatNumber(p99, 1),
  ];
  const samples = formatTable(
    [
      { title: 'request sent → response received', align: 'left' },
      { title: 'n', align: 'right' },
      { title: 'p50 ms', align: 'right' },
      { title: 'p99 ms', align: 'right' },
    ],
    [
      row('local mode, function at zero, no pool', r.p50_ms_no_pool, r.p99_ms_no_pool),
      row(`local mode, function at zero, warm pool of ${r.pool_size}`, r.p50_ms_pool, r.p99_ms_pool),
      row('bare node:http, spawn → first 200 (baseline)', r.baseline_p50_ms, r.baseline_p99_ms),
      row('local mode, Python function at zero, no pool', r.python_p50_ms_no_pool, r.python_p99_ms_no_pool),
      row(
        `local mode, Python function at zero, warm pool of ${r.pool_size}`,
        r.python_p50_ms_pool,
        r.python_p99_ms_pool,
      ),
      row(
        'bare python http.server, spawn → first 200 (baseline)',
        r.python_baseline_p50_ms,
        r.python_baseline_p99_ms,
      ),
    ],
  );
  const cluster = formatTable(
    [
      { title: `API-server harness, ${r.cluster_runs} functions woken from zero`, align: 'left' },
      { title: 'p50 ms', align: 'right' },
    ],
    [
      ['gateway sends wake → leader has written the raised scale', formatNumber(r.p50_ms_wake_to_raised, 1)],
      [
        '  of which in the controller (arrival → API server took it)',
        formatNumber(r.p50_ms_controller_wake, 1),
      ],
      [
        'endpoint ready (a watch sees it) → held request at the function (< 0: before)',
        formatNumber(r.p50_ms_endpoint_ready_to_forwarded, 1),
      ],
      ['request sent → response, through a new pod', formatNumber(r.p50_ms_cluster_request_to_response, 1)],
      ['warm pool of 1: request sent → response, through a pool pod', formatNumber(r.p50_ms_cluster_pool, 1)],
      [
        '  gateway sends wake → answer naming the loaded pool pod',
        formatNumber(r.p50_ms_cluster_pool_wake_answer, 1),
      ],
      [
        '  of which the scale write (arrival → API server took it)',
        formatNumber(r.p50_ms_cluster_pool_controller_wake, 1),
      ],
      [
        '  slice lists the pod ready → request at the function (< 0: before)',
        formatNumber(r.p50_ms_cluster_pool_endpoint_ready_to_forwarded, 1),
      ],
    ],
  );
  const real =
    r.real_node_skipped !== undefined
      ? `Real node: skipped (${r.real_node_skipped})`
      : formatTable(
          [
            {
              title: `real node (kubelet, containerd, the chart), ${r.cluster_runs} runs each`,
              align: 'left',
            },
            { title: 'p50 ms', align: 'right' },
            { title: 'p99 ms', align: 'right' },
          ],
          [
            [
              'request at zero → response, through a pool pod',
              formatNumber(r.real_node_p50_ms_pool ?? Number.NaN, 1),
              formatNumber(r.real_node_p99_ms_pool ?? Number.NaN, 1),
            ],
            [
              'request at zero → response, through a new pod',
              formatNumber(r.real_node_p50_ms_new_pod ?? Number.NaN, 1),
              formatNumber(r.real_node_p99_ms_new_pod ?? Number.NaN, 1),
            ],
            [
              'API-server harness (pod runner), through a new pod',
              formatNumber(r.p50_ms_cluster_request_to_response, 1),
              formatNumber(r.p99_ms_cluster_request_to_response, 1),
            ],
            [
              'API-server harness (pod runner), through a pool pod',
              formatNumber(r.p50_ms_cluster_pool, 1),
              formatNumber(r.p99_ms_cluster_pool, 1),
            ],
          ],
        );
  const verdicts = formatTable(VERDICT_COLUMNS, [
    ['no pool p50 / baseline p50', formatNumber(r.ratio_no_pool_to_baseline, 2), '', ''],
    ['pool p50 / baseline p50', formatNumber(r.ratio_pool_to_baseline, 2), '', ''],
    [
      'no pool p50 ms',
      formatNumber(r.p50_ms_no_pool, 1),
      `≤ ${COLDSTART_TARGETS.maxP50MsNoPool}`,
      verdict(r.pass_p50_no_pool),
    ],
    [
      'warm pool p50 ms',
      formatNumber(r.p50_ms_pool, 1),
      `≤ ${COLDSTART_TARGETS.maxP50MsPool}`,
      verdict(r.pass_p50_pool),
    ],
    [
      'Python at zero, no pool: p50 / bare python p50',
      formatNumber(r.ratio_python_no_pool_to_baseline, 2),
      `≤ ${COLDSTART_TARGETS.maxPythonRatioNoPool}`,
      verdict(r.pass_python_ratio_no_pool),
    ],
    [
      'Python at zero, warm pool p50 ms',
      formatNumber(r.python_p50_ms_pool, 1),
      `≤ ${COLDSTART_TARGETS.maxPythonP50MsPool}`,
      verdict(r.pass_python_p50_pool),
    ],
    [
      'wake → replicas raised p50 ms',
      formatNumber(r.p50_ms_wake_to_raised, 1),
      `≤ ${COLDSTART_TARGETS.maxP50MsWakeToRaised}`,
      verdict(r.pass_p50_wake_to_raised),
    ],
    [
      'harness: request at zero → response through a pool pod, p50 ms',
      formatNumber(r.p50_ms_cluster_pool, 1),
      `≤ ${COLDSTART_TARGETS.maxP50MsClusterPool}`,
      verdict(r.pass_p50_cluster_pool),
    ],
    ...(r.real_node_skipped !== undefined
      ? []
      : [
          [
            'real node: request at zero → response through a pool pod, p50 ms',
            formatNumber(r.real_node_p50_ms_pool ?? Number.NaN, 1),
            `≤ ${COLDSTART_TARGETS.maxP50MsClusterPool}`,
            verdict(r.pass_real_node_p50_pool === true),
          ],
          [
            'real node: request at zero → response through a new pod, p50 ms',
            formatNumber(r.real_node_p50_ms_new_pod ?? Number.NaN, 1),
            `≤ ${COLDSTART_TARGETS.maxP50MsRealNodeNewPod}`,
            verdict(r.pass_real_node_p50_new_pod === true),
          ],
        ]),
    [
      'endpoint ready → forwarded p50 ms',
      formatNumber(r.p50_ms_endpoint_ready_to_forwarded, 1),
      `≤ ${COLDSTART_TARGETS.maxP50MsEndpointReadyToForwarded}`,
      verdict(r.pass_p50_endpoint_ready_to_forwarded),
    ],
  ]);
  return `${samples}\n\n${cluster}\n\n${real}\n\n${verdicts}`;
}
