import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import type { ControlPlane } from './harness/control-plane/control-plane.js';
import { freshNamespace, sharedControlPlane } from './harness/control-plane/shared.js';
import { installGatewayApiCrds } from './harness/gateway-api-crds.js';
import { helm, helmBinary } from './harness/helm.js';
import { CHART_DIR, REPO_ROOT } from './harness/install-bundle.js';

interface BackendService {
  name: string;
  port: { number?: number; name?: string };
}

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec?: {
    // Service
    ports?: { name?: string; port: number }[];
    // Ingress
    ingressClassName?: string;
    tls?: { secretName: string; hosts: string[] }[];
    /** An Ingress's or an HTTPRoute's: read through ingressRules or routeRules. */
    rules?: unknown[];
    // HTTPRoute
    parentRefs?: { name: string; namespace?: string; sectionName?: string }[];
    hostnames?: string[];
  };
}

interface IngressRule {
  host?: string;
  http: { paths: { path: string; pathType: string; backend: { service: BackendService } }[] };
}

interface RouteRule {
  matches: { path: { type: string; value: string } }[];
  timeouts?: { request?: string; backendRequest?: string };
  backendRefs: { name: string; port: number; kind?: string; group?: string }[];
}

const DOCS = join(REPO_ROOT, 'docs', 'kubernetes.md');

async function render(namespace: string, args: string[]): Promise<Manifest[]> {
  const rendered = await helm(['template', 'nimbus', CHART_DIR, '--namespace', namespace, ...args], {
    cwd: REPO_ROOT,
  });
  assert.equal(rendered.code, 0, rendered.stderr);
  return parseAllDocuments(rendered.stdout)
    .map((doc) => doc.toJS() as Manifest | null)
    .filter((o): o is Manifest => o !== null);
}

function only(objects: Manifest[], kind: string): Manifest {
  const found = objects.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `${found.length} ${kind} objects rendered`);
  return found[0] as Manifest;
}

const ingressRules = (ingress: Manifest) => (ingress.spec?.rules ?? []) as IngressRule[];
const routeRules = (route: Manifest) => (route.spec?.rules ?? []) as RouteRule[];

/** The gateway's public Service, and the port it serves HTTP on, as rendered beside the route. */
function gatewayService(objects: Manifest[]) {
  const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'nimbus-gateway');
  assert.ok(service, 'no gateway Service rendered');
  const http = service.spec?.ports?.find((p) => p.name === 'http');
  assert.ok(http, 'the gateway Service has no http port');
  return { name: service.metadata.name, port: http.port };
}

/** The fenced YAML block of docs/kubernetes.md whose first line is `# <name>`: the documented examples, tested as written. */
async function documented(name: string): Promise<string> {
  const docs = await readFile(DOCS, 'utf8');
  const block = [...docs.matchAll(/```yaml\n([\s\S]*?)```/g)]
    .map((m) => m[1] as string)
    .find((text) => text.startsWith(`# ${name}`));
  assert.ok(block, `docs/kubernetes.md has no yaml block starting "# ${name}"`);
  return block;
}

const INGRESS = [
  '--set',
  'ingress.enabled=true',
  '--set',
  'ingress.className=nginx',
  '--set-json',
  'ingress.hosts=["fn.example.com","*.fn.example.org"]',
  '--set-json',
  'ingress.tls=[{"secretName":"nimbus-tls","hosts":["fn.example.com"]},{"secretName":"org-tls","hosts":["*.fn.example.org"]}]',
  '--set-json',
  'ingress.annotations={"cert-manager.io/cluster-issuer":"letsencrypt"}',
];

const ROUTE = [
  '--set',
  'httpRoute.enabled=true',
  '--set-json',
  'httpRoute.parentRefs=[{"name":"public","namespace":"gateways","sectionName":"https"}]',
  '--set-json',
  'httpRoute.hostnames=["fn.example.com"]',
];

describe('chart: the gateway exposed through an Ingress or a Gateway API HTTPRoute', function () {
  this.timeout(60_000);

  before(async function () {
    this.timeout(10 * 60_000);
    await helmBinary();
  });

  it('renders neither by default', async () => {
    const objects = await render('nimbus', []);
    assert.deepEqual(
      objects.filter((o) => o.kind === 'Ingress' || o.kind === 'HTTPRoute'),
      [],
    );
  });

  for (const [what, args] of [
    ['an Ingress with hosts and TLS', INGRESS],
    ['an HTTPRoute with timeouts', [...ROUTE, '--set', 'httpRoute.timeouts.request=5m']],
    [
      'both, the operator paths exposed on purpose',
      [...INGRESS, ...ROUTE, '--set', 'ingress.exposeOperatorPaths=true'],
    ],
  ] as [string, string[]][]) {
    it(`passes helm lint --strict with ${what}`, async () => {
      const linted = await helm(['lint', '--strict', CHART_DIR, ...args], { cwd: REPO_ROOT });
      assert.equal(linted.code, 0, `${linted.stdout}${linted.stderr}`);
      assert.doesNotMatch(linted.stdout, /\[(WARNING|ERROR)\]/);
    });
  }

  it('sends every path of every host to the gateway Service’s http port, with TLS from the Secrets named', async () => {
    const objects = await render('nimbus', INGRESS);
    const ingress = only(objects, 'Ingress');
    const service = gatewayService(objects);
    assert.equal(ingress.metadata.name, 'nimbus-gateway');
    assert.equal(ingress.metadata.namespace, 'nimbus');
    assert.equal(ingress.spec?.ingressClassName, 'nginx');
    assert.equal(ingress.metadata.annotations?.['cert-manager.io/cluster-issuer'], 'letsencrypt');
    assert.deepEqual(ingress.spec?.tls, [
      { secretName: 'nimbus-tls', hosts: ['fn.example.com'] },
      { secretName: 'org-tls', hosts: ['*.fn.example.org'] },
    ]);
    const rules = ingressRules(ingress);
    assert.deepEqual(
      rules.map((r) => r.host),
      ['fn.example.com', '*.fn.example.org'],
    );
    for (const rule of rules) {
      assert.deepEqual(
        rule.http.paths.map((p) => `${p.pathType} ${p.path}`),
        ['Prefix /function', 'Prefix /async-function', 'Prefix /webhook'],
      );
      for (const path of rule.http.paths)
        assert.deepEqual(path.backend.service, { name: service.name, port: { number: service.port } });
    }
  });

  it('routes every host with one rule when no host is named', async () => {
    const objects = await render('nimbus', ['--set', 'ingress.enabled=true']);
    const rules = ingressRules(only(objects, 'Ingress'));
    assert.equal(rules.length, 1);
    assert.equal(rules[0]?.host, undefined);
    assert.equal(only(objects, 'Ingress').spec?.tls, undefined);
  });

  it('attaches the HTTPRoute to the parents named, the gateway Service and port its one backend', async () => {
    const objects = await render('nimbus', [...ROUTE, '--set', 'httpRoute.timeouts.request=5m']);
    const route = only(objects, 'HTTPRoute');
    const service = gatewayService(objects);
    assert.equal(route.apiVersion, 'gateway.networking.k8s.io/v1');
    assert.deepEqual(route.spec?.parentRefs, [
      { name: 'public', namespace: 'gateways', sectionName: 'https' },
    ]);
    assert.deepEqual(route.spec?.hostnames, ['fn.example.com']);
    const rules = routeRules(route);
    assert.equal(rules.length, 1);
    assert.deepEqual(
      rules[0]?.matches.map((m) => `${m.path.type} ${m.path.value}`),
      ['PathPrefix /function', 'PathPrefix /async-function', 'PathPrefix /webhook'],
    );
    assert.deepEqual(rules[0]?.backendRefs, [{ name: service.name, port: service.port }]);
    assert.deepEqual(rules[0]?.timeouts, { request: '5m' });
  });

  it('follows the release’s names into the backends', async () => {
    const rendered = await helm(
      ['template', 'edge', CHART_DIR, '--namespace', 'team', ...INGRESS, ...ROUTE],
      { cwd: REPO_ROOT },
    );
    assert.equal(rendered.code, 0, rendered.stderr);
    const objects = parseAllDocuments(rendered.stdout).map((d) => d.toJS() as Manifest);
    const ingress = only(objects, 'Ingress');
    assert.equal(ingressRules(ingress)[0]?.http.paths[0]?.backend.service.name, 'edge-nimbus-gateway');
    assert.equal(routeRules(only(objects, 'HTTPRoute'))[0]?.backendRefs[0]?.name, 'edge-nimbus-gateway');
    assert.ok(objects.some((o) => o.kind === 'Service' && o.metadata.name === 'edge-nimbus-gateway'));
  });

  it('keeps look-alikes of the operator paths, which match other segments, and routes the operator paths when opted in', async () => {
    const lookAlikes = await render('nimbus', [
      '--set',
      'ingress.enabled=true',
      '--set-json',
      'ingress.paths=[{"path":"/systems","pathType":"Prefix"},{"path":"/uis/","pathType":"Prefix"},{"path":"/","pathType":"Exact"}]',
    ]);
    assert.deepEqual(
      ingressRules(only(lookAlikes, 'Ingress'))[0]?.http.paths.map((p) => p.path),
      ['/systems', '/uis/', '/'],
    );
    const opened = await render('nimbus', [
      ...ROUTE,
      '--set-json',
      'httpRoute.matches=[{"path":{"type":"PathPrefix","value":"/"}}]',
      '--set',
      'httpRoute.exposeOperatorPaths=true',
    ]);
    assert.deepEqual(routeRules(only(opened, 'HTTPRoute'))[0]?.matches, [
      { path: { type: 'PathPrefix', value: '/' } },
    ]);
  });

  const refused: [string, string[], RegExp][] = [
    [
      'TLS without a secretName',
      ['--set', 'ingress.enabled=true', '--set-json', 'ingress.tls=[{"hosts":["fn.example.com"]}]'],
      /ingress\.tls\.0: secretName is required/,
    ],
    [
      'a TLS host the Ingress does not route',
      [...INGRESS, '--set-json', 'ingress.tls=[{"secretName":"nimbus-tls","hosts":["fn.example.net"]}]'],
      /ingress\.tls\[0\]\.hosts: fn\.example\.net is not in ingress\.hosts .*the Secret nimbus-tls would be offered/,
    ],
    [
      'an HTTPRoute without parentRefs',
      ['--set', 'httpRoute.enabled=true'],
      /httpRoute\.parentRefs: Array must have at least 1 items/,
    ],
    [
      'an HTTPRoute match without a path, which would be PathPrefix /',
      [...ROUTE, '--set-json', 'httpRoute.matches=[{"method":"POST"}]'],
      /httpRoute\.matches\.0: path is required/,
    ],
    [
      'an HTTPRoute without matches, which would match every path',
      [...ROUTE, '--set-json', 'httpRoute.matches=[]'],
      /httpRoute\.matches: list the paths to route; a rule without matches matches every path/,
    ],
    [
      'an Ingress without paths',
      ['--set', 'ingress.enabled=true', '--set-json', 'ingress.paths=[]'],
      /ingress\.paths: list the paths to route/,
    ],
    [
      'the prefix / on the Ingress, which reaches every operator path',
      ['--set', 'ingress.enabled=true', '--set-json', 'ingress.paths=[{"path":"/","pathType":"Prefix"}]'],
      /ingress\.paths\[0\]\.path: "\/" would route the gateway's operator path \/system .*set ingress\.exposeOperatorPaths=true/,
    ],
    [
      'an exact path under /system on the Ingress',
      [
        '--set',
        'ingress.enabled=true',
        '--set-json',
        'ingress.paths=[{"path":"/function","pathType":"Prefix"},{"path":"/system/functions","pathType":"Exact"}]',
      ],
      /ingress\.paths\[1\]\.path: "\/system\/functions" would route the gateway's operator path \/system/,
    ],
    [
      'the dashboard with a trailing slash',
      ['--set', 'ingress.enabled=true', '--set-json', 'ingress.paths=[{"path":"/ui/","pathType":"Prefix"}]'],
      /operator path \/ui/,
    ],
    [
      '/metrics on the HTTPRoute',
      [...ROUTE, '--set-json', 'httpRoute.matches=[{"path":{"type":"Exact","value":"/metrics"}}]'],
      /httpRoute\.matches\[0\]\.path\.value: "\/metrics" would route the gateway's operator path \/metrics .*httpRoute\.exposeOperatorPaths=true/,
    ],
    [
      'the probes on the HTTPRoute',
      [...ROUTE, '--set-json', 'httpRoute.matches=[{"path":{"type":"PathPrefix","value":"/readyz"}}]'],
      /operator path \/readyz/,
    ],
    [
      'a dot segment climbing into /system',
      [
        '--set',
        'ingress.enabled=true',
        '--set-json',
        'ingress.paths=[{"path":"/function/../system","pathType":"Prefix"}]',
      ],
      /ingress\.paths\.0\.path: Does not match pattern/,
    ],
    [
      'a percent-encoded /system',
      [
        '--set',
        'ingress.enabled=true',
        '--set-json',
        'ingress.paths=[{"path":"/%73ystem","pathType":"Prefix"}]',
      ],
      /ingress\.paths\.0\.path: Does not match pattern/,
    ],
    [
      'a regular expression, which the chart cannot see into',
      [...ROUTE, '--set-json', 'httpRoute.matches=[{"path":{"type":"RegularExpression","value":"/f.*"}}]'],
      /httpRoute\.matches\.0\.path\.type: httpRoute\.matches\.0\.path\.type must be one of the following: "PathPrefix", "Exact"/,
    ],
    [
      'an implementation-specific Ingress path',
      [
        '--set',
        'ingress.enabled=true',
        '--set-json',
        'ingress.paths=[{"path":"/function","pathType":"ImplementationSpecific"}]',
      ],
      /ingress\.paths\.0\.pathType: ingress\.paths\.0\.pathType must be one of the following: "Prefix", "Exact"/,
    ],
    [
      'a host name that is no DNS name',
      ['--set', 'ingress.enabled=true', '--set-json', 'ingress.hosts=["Fn_Example.com"]'],
      /ingress\.hosts\.0: Does not match pattern/,
    ],
    [
      'a timeout that is no Gateway API duration',
      [...ROUTE, '--set', 'httpRoute.timeouts.request=forever'],
      /httpRoute\.timeouts\.request: Does not match pattern/,
    ],
    ['a misspelt key', ['--set', 'ingress.host=fn.example.com'], /Additional property host is not allowed/],
  ];
  for (const [what, args, message] of refused) {
    it(`refuses ${what}, naming the value`, async () => {
      const rendered = await helm(['template', 'nimbus', CHART_DIR, ...args], { cwd: REPO_ROOT });
      assert.notEqual(rendered.code, 0, 'helm accepted the values');
      assert.match(rendered.stderr, message);
    });
  }

  describe('on a real API server, with the Gateway API’s own CRDs', function () {
    this.timeout(45 * 60_000);
    let plane: ControlPlane;
    let dir: string;

    before(async () => {
      plane = await sharedControlPlane();
      await installGatewayApiCrds(plane);
      dir = await mkdtemp(join(tmpdir(), 'nimbus-ingress-'));
    });

    after(async () => {
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    });

    /** Creates an object for real (strict field validation); gives the stored object, or the refusal's status and message. */
    const create = async (namespace: string, object: Manifest, dryRun = false) => {
      const [group, version] = object.apiVersion.includes('/')
        ? object.apiVersion.split('/')
        : ['', object.apiVersion];
      const plural = `${object.kind.toLowerCase()}${object.kind.endsWith('s') ? 'es' : 's'}`;
      const base = group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
      return plane.request<Manifest & { message?: string }>(
        'POST',
        `${base}/namespaces/${namespace}/${plural}?fieldValidation=Strict${dryRun ? '&dryRun=All' : ''}`,
        { ...object, metadata: { ...object.metadata, namespace } },
      );
    };

    const tlsSecret = (name: string): Manifest =>
      ({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name },
        type: 'kubernetes.io/tls',
        // The API server asks a TLS Secret for both keys; what is in them is the issuer's business.
        data: {
          'tls.crt': Buffer.from('certificate').toString('base64'),
          'tls.key': Buffer.from('key').toString('base64'),
        },
      }) as Manifest;

    /** Renders with a documented values file, as an operator would pass it with -f. */
    const renderWithFile = async (namespace: string, name: string, extra: string[] = []) => {
      const file = join(dir, `${name}-${namespace}.yaml`);
      await writeFile(file, await documented(name));
      return render(namespace, ['-f', file, ...extra]);
    };

    for (const example of ['values-ingress-nginx.yaml', 'values-traefik.yaml']) {
      it(`creates the Ingress of the documented ${example}, its backend the gateway Service, its TLS Secret there`, async () => {
        const namespace = await freshNamespace(plane, 'ingress');
        const objects = await renderWithFile(namespace, example);
        const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'nimbus-gateway');
        assert.ok(service);
        const madeService = await create(namespace, service);
        assert.equal(madeService.status, 201, madeService.body.message);
        const madeSecret = await create(namespace, tlsSecret('nimbus-tls'));
        assert.equal(madeSecret.status, 201, madeSecret.body.message);
        const made = await create(namespace, only(objects, 'Ingress'));
        assert.equal(made.status, 201, made.body.message);

        const stored = await plane.request<Manifest>(
          'GET',
          `/apis/networking.k8s.io/v1/namespaces/${namespace}/ingresses/nimbus-gateway`,
        );
        const live = await plane.request<Manifest>(
          'GET',
          `/api/v1/namespaces/${namespace}/services/nimbus-gateway`,
        );
        assert.equal(live.status, 200);
        const ports = live.body.spec?.ports?.map((p) => p.port) ?? [];
        const backends = ingressRules(stored.body).flatMap((r) => r.http.paths.map((p) => p.backend.service));
        assert.ok(backends.length >= 3);
        for (const backend of backends) {
          assert.equal(backend.name, live.body.metadata.name);
          assert.ok(ports.includes(backend.port.number ?? -1), `port ${backend.port.number} not in ${ports}`);
        }
        for (const tls of stored.body.spec?.tls ?? []) {
          const secret = await plane.request<{ type?: string }>(
            'GET',
            `/api/v1/namespaces/${namespace}/secrets/${tls.secretName}`,
          );
          assert.equal(secret.body.type, 'kubernetes.io/tls', `${tls.secretName}: ${secret.status}`);
        }
        assert.deepEqual(stored.body.spec?.tls?.[0]?.hosts, ['fn.example.com']);
      });
    }

    it('is a check that can fail: the API server refuses an Ingress the schema would have caught', async () => {
      const namespace = await freshNamespace(plane, 'ingress');
      const ingress = only(await render(namespace, INGRESS), 'Ingress');
      const rule = ingressRules(ingress)[0];
      assert.ok(rule);
      rule.host = 'Fn_Example.com';
      const refused = await create(namespace, ingress, true);
      assert.equal(refused.status, 422);
      assert.match(refused.body.message ?? '', /spec\.rules\[0\]\.host: Invalid value: "Fn_Example\.com"/);
    });

    it('creates the documented Gateway and the HTTPRoute of the documented values, which attaches to its HTTPS listener', async () => {
      // The namespaces of the example: the Gateway's, and the release's its listener admits.
      const gateways = await freshNamespace(plane, 'gateways');
      const namespace = await freshNamespace(plane, 'nimbus');
      const gateway = parse(await documented('gateway-envoy.yaml')) as Manifest & {
        spec: {
          listeners: { name: string; tls: { certificateRefs: { name: string }[] }; allowedRoutes: unknown }[];
        };
      };
      const listener = gateway.spec.listeners.find((l) => l.name === 'https');
      assert.ok(listener, 'the documented Gateway has no https listener');
      // The example's namespace names are the reader's; here they are the test's own.
      (
        listener.allowedRoutes as { namespaces: { selector: { matchLabels: Record<string, string> } } }
      ).namespaces.selector.matchLabels['kubernetes.io/metadata.name'] = namespace;
      const madeSecret = await create(gateways, tlsSecret(listener.tls.certificateRefs[0]?.name ?? ''));
      assert.equal(madeSecret.status, 201, madeSecret.body.message);
      const madeGateway = await create(gateways, gateway);
      assert.equal(madeGateway.status, 201, madeGateway.body.message);

      const objects = await renderWithFile(namespace, 'values-envoy-gateway.yaml', [
        '--set-json',
        `httpRoute.parentRefs=[{"name":"${gateway.metadata.name}","namespace":"${gateways}","sectionName":"https"}]`,
      ]);
      const made = await create(namespace, only(objects, 'HTTPRoute'));
      assert.equal(made.status, 201, made.body.message);
      const stored = made.body;
      const service = gatewayService(objects);
      const [rule] = routeRules(stored);
      // The API server fills in the defaults of a Service backend: the core group, kind Service, weight 1.
      assert.deepEqual(
        rule?.backendRefs.map((b) => [b.group, b.kind, b.name, b.port]),
        [['', 'Service', service.name, service.port]],
      );
      assert.deepEqual(stored.spec?.parentRefs?.[0]?.sectionName, 'https');
      assert.deepEqual(stored.spec?.hostnames, ['fn.example.com']);
      assert.equal(rule?.timeouts?.request, '5m');
      assert.deepEqual(
        rule?.matches.map((m) => m.path.value),
        ['/function', '/async-function', '/webhook'],
      );
    });

    it('installs both with helm install, whose notes say what is routed, and uninstalls them', async () => {
      const namespace = await freshNamespace(plane, 'ingress');
      const release = namespace.replace('ingress-', 'edge-');
      const run = async (args: string[]) => {
        const done = await helm([...args, '--namespace', namespace, '--kubeconfig', plane.kubeconfigPath], {
          cwd: REPO_ROOT,
        });
        assert.equal(done.code, 0, `helm ${args.join(' ')}: ${done.stderr}`);
        return done.stdout;
      };
      const notes = await run(['install', release, CHART_DIR, '--skip-crds', ...INGRESS, ...ROUTE]);
      const fullname = `${release}-nimbus`;
      assert.match(
        notes,
        new RegExp(
          `the Ingress ${fullname}-gateway routes /function, /async-function, /webhook\\s+on fn\\.example\\.com, \\*\\.fn\\.example\\.org; /system, /ui and /metrics stay inside`,
        ),
      );
      assert.match(
        notes,
        new RegExp(
          `the HTTPRoute ${fullname}-gateway routes /function, /async-function, /webhook\\s+on fn\\.example\\.com`,
        ),
      );
      const paths = [
        `/apis/networking.k8s.io/v1/namespaces/${namespace}/ingresses/${fullname}-gateway`,
        `/apis/gateway.networking.k8s.io/v1/namespaces/${namespace}/httproutes/${fullname}-gateway`,
      ];
      for (const path of paths) assert.equal((await plane.request('GET', path)).status, 200, path);
      await run(['uninstall', release]);
      for (const path of paths) assert.equal((await plane.request('GET', path)).status, 404, path);
    });

    it('is judged by the CRD’s CEL rules: a backend timeout past the request timeout, and a relative path, are refused', async () => {
      const namespace = await freshNamespace(plane, 'route');
      const objects = await render(namespace, [
        ...ROUTE,
        '--set',
        'httpRoute.timeouts.request=10s',
        '--set',
        'httpRoute.timeouts.backendRequest=1m',
      ]);
      const route = only(objects, 'HTTPRoute');
      const tooLong = await create(namespace, route, true);
      assert.equal(tooLong.status, 422, 'the API server took a backend timeout past the request timeout');
      assert.match(
        tooLong.body.message ?? '',
        /backendRequest timeout cannot be longer than request timeout/,
      );

      const [rule] = routeRules(route);
      assert.ok(rule);
      rule.timeouts = { request: '10s' };
      const valid = await create(namespace, route, true);
      assert.equal(valid.status, 201, valid.body.message);
      (rule.matches[0] as { path: { value: string } }).path.value = 'function';
      const relative = await create(namespace, route, true);
      assert.equal(relative.status, 422);
      assert.match(relative.body.message ?? '', /value must be an absolute path and start with '\/'/);
    });
  });
});
