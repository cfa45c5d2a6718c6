import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { exportedSamples } from './harness/exported-metrics.js';
import { helm } from './harness/helm.js';
import { CHART_DIR, REPO_ROOT } from './harness/install-bundle.js';
import { promtool } from './harness/promtool.js';

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  spec?: { groups: RuleGroup[]; template?: { metadata?: { annotations?: Record<string, string> } } };
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface RuleGroup {
  name: string;
  rules: Rule[];
}

/** A Grafana panel or row, as far as its queries go. */
interface Panel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

interface Dashboard {
  panels: Panel[];
  templating: { list: { name: string; query?: string | { query: string } }[] };
}

const NAMESPACE = 'nimbus-system';
const MONITORING = [
  '--set',
  'monitoring.dashboard.enabled=true',
  '--set',
  'monitoring.prometheusRule.enabled=true',
];

async function render(args: string[] = []): Promise<Manifest[]> {
  const rendered = await helm(['template', 'nimbus', CHART_DIR, '--namespace', NAMESPACE, ...args], {
    cwd: REPO_ROOT,
  });
  assert.equal(rendered.code, 0, rendered.stderr);
  return parseAllDocuments(rendered.stdout)
    .map((doc) => doc.toJS() as Manifest | null)
    .filter((o): o is Manifest => o !== null);
}

const ruleOf = (objects: Manifest[]) => objects.find((o) => o.kind === 'PrometheusRule');
const dashboardMapOf = (objects: Manifest[]) =>
  objects.find((o) => o.kind === 'ConfigMap' && o.data?.['nimbus.json'] !== undefined);

/** Every query of the dashboard's panels, rows' panels included. */
function panelQueries(panels: Panel[]): { title: string; expr: string }[] {
  return panels.flatMap((panel) => [
    ...(panel.targets ?? []).flatMap((t) =>
      t.expr === undefined ? [] : [{ title: panel.title ?? '', expr: t.expr }],
    ),
    ...panelQueries(panel.panels ?? []),
  ]);
}

/** Grafana's variables as Prometheus would get them once Grafana has put their values in. */
const substituted = (expr: string) =>
  expr.replaceAll('$__rate_interval', '5m').replaceAll('$namespace', NAMESPACE).replaceAll('$function', '.*');

/** The metric names an expression reads (every Nimbus metric starts with `nimbus_`). */
const metricNames = (expr: string) => [...expr.matchAll(/\bnimbus_[a-z0-9_]+/g)].map((m) => m[0]);

describe('chart: Grafana dashboard and PrometheusRule alerts, checked by promtool', function () {
  this.timeout(120_000);
  let dir: string;
  let objects: Manifest[];
  let groups: RuleGroup[];
  let dashboard: Dashboard;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nimbus-monitoring-'));
    objects = await render(MONITORING);
    groups = ruleOf(objects)?.spec?.groups ?? [];
    dashboard = JSON.parse(
      dashboardMapOf(objects)?.data?.['nimbus.json'] ?? '{"panels":[],"templating":{"list":[]}}',
    );
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const check = async (name: string, content: { groups: RuleGroup[] }) => {
    const file = join(dir, name);
    await writeFile(file, stringify(content));
    return promtool(['check', 'rules', file]);
  };

  it('renders neither by default', async () => {
    const plain = await render();
    assert.equal(ruleOf(plain), undefined);
    assert.equal(dashboardMapOf(plain), undefined);
    assert.equal(
      plain.some((o) => o.metadata.labels?.grafana_dashboard !== undefined),
      false,
      'no object for the Grafana sidecar',
    );
  });

  it('has Prometheus scrape the controller, whose metrics the alerts read, beside its own annotations', async () => {
    const objects = await render(['--set', 'controller.podAnnotations.team=platform']);
    const controller = objects.find(
      (o) => o.kind === 'Deployment' && o.metadata.name === 'nimbus-controller',
    );
    const annotations = controller?.spec?.template?.metadata?.annotations;
    assert.equal(annotations?.['prometheus.io/scrape'], 'true');
    assert.equal(annotations?.['prometheus.io/port'], '9090');
    assert.equal(annotations?.['prometheus.io/path'], '/metrics');
    assert.equal(annotations?.team, 'platform');
  });

  it('labels the dashboard for Grafana’s sidecar and the rule for the operator', () => {
    const map = dashboardMapOf(objects);
    assert.equal(map?.metadata.labels?.grafana_dashboard, '1');
    assert.equal(map?.metadata.namespace, NAMESPACE);
    const rule = ruleOf(objects);
    assert.equal(rule?.apiVersion, 'monitoring.coreos.com/v1');
    const alerts = groups.flatMap((g) => g.rules.map((r) => r.alert));
    for (const wanted of [
      'NimbusScaleFromZeroFailing',
      'NimbusDeadLettersGrowing',
      'NimbusControllerNotLeading',
      'NimbusRedisUnreachable',
      'NimbusNatsUnreachable',
    ])
      assert.ok(alerts.includes(wanted), `no alert ${wanted} in ${alerts.join(', ')}`);
  });

  it('takes the rule’s labels, the leader wait and the series selector from the values', async () => {
    const custom = await render([
      ...MONITORING,
      '--set',
      'monitoring.prometheusRule.labels.release=kube-prometheus-stack',
      '--set',
      'monitoring.prometheusRule.noLeaderFor=15m',
      '--set-string',
      'monitoring.seriesSelector=job="nimbus"',
    ]);
    const rule = ruleOf(custom);
    assert.equal(rule?.metadata.labels?.release, 'kube-prometheus-stack');
    const rules = rule?.spec?.groups.flatMap((g) => g.rules) ?? [];
    assert.equal(rules.find((r) => r.alert === 'NimbusControllerNotLeading')?.for, '15m');
    for (const r of rules) assert.match(r.expr, /job="nimbus"/, `${r.alert} ignores the selector`);
    const refused = await helm(
      ['template', 'nimbus', CHART_DIR, ...MONITORING, '--set', 'monitoring.prometheusRule.noLeaderFor=soon'],
      { cwd: REPO_ROOT },
    );
    assert.notEqual(refused.code, 0, 'a leader wait that is no duration is refused');
    assert.match(refused.stderr, /noLeaderFor/);
  });

  it('has rules promtool accepts, and promtool refuses a broken one', async () => {
    assert.ok(groups.length > 0);
    const checked = await check('rules.yaml', { groups });
    assert.ok(checked.ok, checked.output);
    const broken = structuredClone(groups);
    const first = broken[0]?.rules[0];
    assert.ok(first);
    first.expr = `${first.expr} by (`;
    const refused = await check('broken.yaml', { groups: broken });
    assert.equal(refused.ok, false, 'promtool checks the expressions');
  });

  it('has dashboard queries that are all valid PromQL', async () => {
    const queries = panelQueries(dashboard.panels);
    assert.ok(queries.length >= 15, `only ${queries.length} queries`);
    const rules = queries.map(({ expr }, i) => ({
      record: `nimbus:dashboard_query_${i}`,
      expr: substituted(expr),
    }));
    const checked = await check('dashboard.yaml', { groups: [{ name: 'dashboard', rules }] });
    assert.ok(checked.ok, checked.output);
  });

  it('reads only metrics a gateway or the controller really exports', async () => {
    const exported = await exportedSamples();
    assert.ok(exported.has('nimbus_gateway_requests_total'), 'the exporters were read');
    const variables = dashboard.templating.list.map((v) =>
      typeof v.query === 'string' ? v.query : (v.query?.query ?? ''),
    );
    const used = [
      ...groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr }))),
      ...panelQueries(dashboard.panels).map(({ title, expr }) => ({ where: `panel "${title}"`, expr })),
      ...variables.map((expr) => ({ where: 'a dashboard variable', expr })),
    ];
    const unknown = used.flatMap(({ where, expr }) =>
      metricNames(expr)
        .filter((name) => !exported.has(name))
        .map((name) => `${name} (${where})`),
    );
    assert.deepEqual(unknown, []);
  });

  it('fires and holds its alerts as their unit tests say (promtool test rules)', async () => {
    // The annotations are checked by `check rules` above; unit tests compare labels.
    const bare = groups.map((g) => ({ ...g, rules: g.rules.map(({ annotations: _, ...rule }) => rule) }));
    await writeFile(join(dir, 'alerts.yaml'), stringify({ groups: bare }));
    const mine = `namespace="${NAMESPACE}"`;
    await writeFile(
      join(dir, 'alerts.test.yaml'),
      stringify({
        rule_files: ['alerts.yaml'],
        evaluation_interval: '1m',
        tests: [
          {
            interval: '1m',
            input_series: [
              // This release's controller lost the lease at minute 2; another release's leads throughout.
              { series: `nimbus_controller_leader{${mine},pod="controller-0"}`, values: '1 1 0x10' },
              { series: 'nimbus_controller_leader{namespace="other",pod="controller-0"}', values: '1x12' },
              // Redis drops at minute 3 for one gateway; NATS stays up.
              { series: `nimbus_dependency_up{${mine},dependency="redis",pod="gw-0"}`, values: '1 1 1 0x8' },
              { series: `nimbus_dependency_up{${mine},dependency="nats",pod="gw-0"}`, values: '1x11' },
              // One function dead-letters a call every minute; another once, long ago.
              {
                series: `nimbus_async_calls_dead_lettered_total{${mine},function="default/flaky",pod="gw-0"}`,
                values: '0+1x12',
              },
              {
                series: `nimbus_async_calls_dead_lettered_total{${mine},function="default/steady",pod="gw-0"}`,
                values: '1x40',
              },
            ],
            alert_rule_test: [
              { eval_time: '4m', alertname: 'NimbusControllerNotLeading', exp_alerts: [] },
              {
                eval_time: '8m',
                alertname: 'NimbusControllerNotLeading',
                exp_alerts: [{ exp_labels: { severity: 'critical' } }],
              },
              { eval_time: '4m', alertname: 'NimbusRedisUnreachable', exp_alerts: [] },
              {
                eval_time: '6m',
                alertname: 'NimbusRedisUnreachable',
                exp_alerts: [
                  {
                    exp_labels: {
                      severity: 'critical',
                      dependency: 'redis',
                      namespace: NAMESPACE,
                      pod: 'gw-0',
                    },
                  },
                ],
              },
              { eval_time: '6m', alertname: 'NimbusNatsUnreachable', exp_alerts: [] },
              {
                eval_time: '10m',
                alertname: 'NimbusDeadLettersGrowing',
                exp_alerts: [{ exp_labels: { severity: 'warning', function: 'default/flaky' } }],
              },
              { eval_time: '40m', alertname: 'NimbusDeadLettersGrowing', exp_alerts: [] },
            ],
          },
        ],
      }),
    );
    const tested = await promtool(['test', 'rules', join(dir, 'alerts.test.yaml')]);
    assert.ok(tested.ok, tested.output);
  });
});
