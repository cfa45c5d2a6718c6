import assert from 'node:assert/strict';
import { type FunctionResource, validateFunction } from '@nimbus/api';
import { desiredObjects } from '../src/reconcile/desired-objects.js';
import { buildDeployment } from '../src/resources/deployment.js';
import { SPEC_HASH_ANNOTATION } from '../src/resources/metadata.js';
import { buildService } from '../src/resources/service.js';
import { SourceTooLargeError, buildSourceConfigMap } from '../src/resources/source-configmap.js';
import { STATE_CREDENTIALS_ANNOTATION, type StateBinding } from '../src/resources/state-binding.js';
import { buildStateSecret, stateSecretName } from '../src/resources/state-secret.js';

const settings = {
  runtimeImage: 'nimbus/runtime-node:0.1.0',
  gatewayUrl: 'http://gateway.nimbus.svc',
  runAsUser: 10001,
};

function fn(spec: Record<string, unknown>, uid: string | null = 'uid-1'): FunctionResource {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name: 'hello', namespace: 'team', ...(uid === null ? {} : { uid }) },
    spec: { source: { inline: 'export default () => 1' }, ...spec },
  });
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}

describe('buildDeployment', () => {
  it('runs the runtime image with the contract, probes and a locked-down container', () => {
    const d = buildDeployment(fn({ timeout: '30s', concurrency: 4 }), settings, 2, 'abc123');
    const pod = d.spec.template.spec;
    const container = pod.containers[0];
    assert.equal(d.metadata.name, 'hello');
    assert.equal(d.metadata.namespace, 'team');
    assert.deepEqual(
      d.metadata.ownerReferences.map((o) => [o.kind, o.name, o.uid, o.controller]),
      [['Function', 'hello', 'uid-1', true]],
    );
    assert.equal(d.spec.replicas, 2);
    assert.deepEqual(d.spec.selector.matchLabels, { 'nimbus.dev/function': 'hello' });
    assert.equal(d.spec.template.metadata.annotations[SPEC_HASH_ANNOTATION], 'abc123');
    assert.equal(container?.image, 'nimbus/runtime-node:0.1.0');
    // The timeout, the 3 s it goes on serving while it leaves the endpoints, and 5 s to spare.
    assert.equal(pod.terminationGracePeriodSeconds, 38);
    assert.deepEqual(container?.readinessProbe, {
      httpGet: { path: '/_/ready', port: 'http' },
      periodSeconds: 1,
      failureThreshold: 1,
    });
    assert.deepEqual(container?.livenessProbe, {
      httpGet: { path: '/_/health', port: 'http' },
      periodSeconds: 10,
      failureThreshold: 3,
    });
    assert.deepEqual(container?.securityContext.capabilities, { drop: ['ALL'] });
    assert.equal(container?.securityContext.readOnlyRootFilesystem, true);
    const env = Object.fromEntries(container?.env.map((e) => [e.name, e.value]) ?? []);
    assert.equal(env.NIMBUS_TIMEOUT_MS, '30000');
    assert.equal(env.NIMBUS_SHUTDOWN_DELAY_MS, '3000');
    assert.equal(env.NIMBUS_CONCURRENCY, '4');
    assert.equal(env.NIMBUS_FUNCTION_DIR, '/var/nimbus/function');
    assert.equal(env.PORT, '8080');
  });

  it("keeps the function's variables, and the platform's value for a name both set, once", () => {
    const d = buildDeployment(
      fn({
        env: [
          { name: 'PORT', value: '1' },
          { name: 'GREETING', value: 'hi' },
        ],
      }),
      settings,
      1,
      'h',
    );
    const names = d.spec.template.spec.containers[0]?.env.map((e) => `${e.name}=${e.value}`) ?? [];
    assert.equal(names[0], 'GREETING=hi');
    assert.deepEqual(
      names.filter((n) => n.startsWith('PORT=')),
      ['PORT=8080'],
    );
  });

  it('mounts inline code read-only where the handler names it, and each secret that opted in under its name', () => {
    const d = buildDeployment(
      fn({ handler: 'lib/main.handle', secrets: ['not-opted-in', 'api-token'] }),
      settings,
      1,
      'h',
      undefined,
      ['api-token'],
    );
    const pod = d.spec.template.spec;
    assert.deepEqual(pod.volumes.find((v) => v.name === 'source')?.configMap, {
      name: 'hello-source',
      items: [{ key: 'lib__main.mjs', path: 'lib/main.mjs' }],
    });
    assert.deepEqual(
      pod.containers[0]?.volumeMounts.map((m) => [m.mountPath, m.readOnly]),
      [
        ['/tmp', false],
        ['/var/nimbus/function', true],
        ['/var/nimbus/secrets/api-token', true],
      ],
    );
    // Named by its place in spec.secrets; the refused one has no volume at all.
    assert.deepEqual(
      pod.volumes.filter((v) => v.secret !== undefined).map((v) => [v.name, v.secret?.secretName]),
      [['secret-1', 'api-token']],
    );
  });

  it('runs a custom image without a source volume', () => {
    const d = buildDeployment(fn({ source: undefined, image: 'acme/fn:1' }), settings, 1, 'h');
    assert.equal(d.spec.template.spec.containers[0]?.image, 'acme/fn:1');
    assert.equal(
      d.spec.template.spec.volumes.some((v) => v.name === 'source'),
      false,
    );
  });

  it('runs a container function on its own port, with its probe, command and drain window', () => {
    const d = buildDeployment(
      fn({
        source: undefined,
        runtime: 'container',
        image: 'acme/py:1',
        command: ['python3', '/app/server.py'],
        port: 3000,
        readiness: { httpGet: { path: '/healthz' } },
        env: [
          { name: 'PORT', value: '1' },
          { name: 'GREETING', value: 'hi' },
        ],
        timeout: '10s',
      }),
      settings,
      1,
      'h',
    );
    const pod = d.spec.template.spec;
    const container = pod.containers[0];
    assert.equal(container?.image, 'acme/py:1');
    assert.deepEqual(container?.command, ['python3', '/app/server.py']);
    assert.deepEqual(container?.ports, [{ name: 'http', containerPort: 3000, protocol: 'TCP' }]);
    assert.deepEqual(container?.readinessProbe, {
      httpGet: { path: '/healthz', port: 'http' },
      periodSeconds: 1,
      timeoutSeconds: 1,
      failureThreshold: 3,
    });
    // No runtime inside: nothing serves /_/health, so no liveness probe would ever pass.
    assert.equal(container?.livenessProbe, undefined);
    assert.deepEqual(container?.lifecycle, { preStop: { sleep: { seconds: 3 } } });
    assert.equal(pod.terminationGracePeriodSeconds, 18);
    assert.equal(container?.securityContext.readOnlyRootFilesystem, true);
    assert.deepEqual(pod.securityContext, {
      runAsNonRoot: true,
      runAsUser: 10001,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const env = Object.fromEntries(container?.env.map((e) => [e.name, e.value]) ?? []);
    // The port is the platform's to say; the function's own variables stay.
    assert.equal(env.PORT, '3000');
    assert.equal(env.GREETING, 'hi');
    assert.equal(env.NIMBUS_FUNCTION_NAME, 'hello');
    assert.equal(env.NIMBUS_TIMEOUT_MS, '10000');
    assert.equal(env.NIMBUS_GATEWAY_URL, settings.gatewayUrl);
    // runtime-node's settings mean nothing to someone else's server.
    for (const name of ['NIMBUS_HANDLER', 'NIMBUS_CONCURRENCY', 'NIMBUS_QUEUE_SIZE', 'NIMBUS_FUNCTION_DIR'])
      assert.equal(env[name], undefined, name);
    assert.equal(container?.env.filter((e) => e.name === 'PORT').length, 1);
  });

  it('probes a container function with a TCP connection to 8080 when its spec names neither', () => {
    const d = buildDeployment(
      fn({ source: undefined, runtime: 'container', image: 'acme/any:1' }),
      settings,
      1,
      'h',
    );
    const container = d.spec.template.spec.containers[0];
    assert.deepEqual(container?.ports, [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    assert.deepEqual(container?.readinessProbe, {
      tcpSocket: { port: 'http' },
      periodSeconds: 1,
      timeoutSeconds: 1,
      failureThreshold: 3,
    });
    assert.equal(container?.command, undefined);
  });

  it('refuses a container function that runs a local folder, naming the field and the way out', () => {
    const local = fn({ source: { path: './hello' }, runtime: 'container', command: ['./serve'] });
    assert.throws(
      () => desiredObjects(local, settings, 1),
      (err: Error & { reason?: string }) =>
        err.reason === 'SourcePathNotSupported' &&
        /spec\.source\.path .* runs spec\.image$/.test(err.message),
    );
  });

  it('refuses python3.11 in a cluster without the runtime-python image, naming the chart value', () => {
    assert.throws(
      () => desiredObjects(fn({ runtime: 'python3.11' }), settings, 1),
      (err: Error & { reason?: string }) =>
        err.reason === 'RuntimeNotInstalled' &&
        /^spec\.runtime: python3\.11 needs the runtime-python image/.test(err.message) &&
        /runtime\.python\.image\.repository/.test(err.message) &&
        /NIMBUS_PYTHON_RUNTIME_IMAGE/.test(err.message),
    );
  });

  it('runs python3.11 on the runtime-python image, with its code as main.py and main.handle, locked down as Node’s', () => {
    const python = { ...settings, pythonRuntimeImage: 'nimbus/runtime-python:0.1.0' };
    const code = 'def handle(event, ctx):\n    return "hi"\n';
    const objects = desiredObjects(
      fn({ runtime: 'python3.11', source: { inline: code }, timeout: '30s' }),
      python,
      1,
    );
    assert.deepEqual(objects.configMap?.data, { 'main.py': code });
    const pod = objects.deployment.spec.template.spec;
    const container = pod.containers[0];
    assert.equal(container?.image, 'nimbus/runtime-python:0.1.0');
    assert.deepEqual(pod.volumes.find((v) => v.name === 'source')?.configMap?.items, [
      { key: 'main.py', path: 'main.py' },
    ]);
    const env = Object.fromEntries(container?.env.map((e) => [e.name, e.value]) ?? []);
    assert.equal(env.NIMBUS_HANDLER, 'main.handle');
    assert.equal(env.NIMBUS_FUNCTION_DIR, '/var/nimbus/function');
    // The rest of the pod is a Node function's: the same contract, probes and security.
    const node = desiredObjects(fn({ timeout: '30s' }), python, 1).deployment.spec.template.spec;
    const { image: _, env: __, ...pythonRest } = container ?? {};
    const { image: ___, env: ____, ...nodeRest } = node.containers[0] ?? {};
    assert.deepEqual(pythonRest, nodeRest);
    assert.deepEqual(
      { ...pod, containers: [], volumes: pod.volumes.map((v) => v.name) },
      { ...node, containers: [], volumes: node.volumes.map((v) => v.name) },
    );
    const nodeEnv = Object.fromEntries(node.containers[0]?.env.map((e) => [e.name, e.value]) ?? []);
    assert.deepEqual({ ...env, NIMBUS_HANDLER: undefined }, { ...nodeEnv, NIMBUS_HANDLER: undefined });
  });

  it('is pure: the same inputs give the same object, and only the hash moves the template', () => {
    const input = fn({});
    assert.deepEqual(buildDeployment(input, settings, 1, 'h1'), buildDeployment(input, settings, 1, 'h1'));
    const a = buildDeployment(input, settings, 1, 'h1').spec.template;
    const b = buildDeployment(input, settings, 1, 'h2').spec.template;
    assert.deepEqual({ ...a, metadata: undefined }, { ...b, metadata: undefined });
    assert.notDeepEqual(a.metadata, b.metadata);
  });

  it('needs the Function as read from the API, with its uid', () => {
    assert.throws(() => buildDeployment(fn({}, null), settings, 1, 'h'), /has no uid/);
  });
});

describe('buildSourceConfigMap', () => {
  it('holds inline code under the handler file name', () => {
    assert.deepEqual(buildSourceConfigMap(fn({}))?.data, { 'index.mjs': 'export default () => 1' });
    assert.equal(buildSourceConfigMap(fn({ handler: 'index.cjs.default' }))?.metadata.name, 'hello-source');
  });
  it('is absent for an image', () => {
    assert.equal(buildSourceConfigMap(fn({ source: undefined, image: 'acme/fn:1' })), undefined);
  });
  it('refuses code over the ConfigMap limit with a reason that names the field', () => {
    assert.throws(
      () => buildSourceConfigMap(fn({ source: { inline: 'x'.repeat(1024 * 1024 + 1) } })),
      (err: Error) =>
        err instanceof SourceTooLargeError && /spec\.source\.inline is 1048577 bytes/.test(err.message),
    );
  });
});

describe('buildService', () => {
  it('selects the function pods and maps port 80 to the runtime', () => {
    const s = buildService(fn({}));
    assert.deepEqual(s.spec.selector, { 'nimbus.dev/function': 'hello' });
    assert.deepEqual(s.spec.ports, [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
  });
});

describe('function state in the cluster', () => {
  const binding: StateBinding = {
    state: true,
    serviceUrl: 'http://nimbus-gateway-state.nimbus.svc:8081',
    secretName: 'hello-state',
    credentialsRevision: '0123456789abcdef',
    maxValueBytes: 65536,
  };

  it('binds the pods to the state service: its URL in env, the token as a file from the Secret, no Redis', () => {
    const d = buildDeployment(fn({ state: { enabled: true } }), settings, 1, 'h', binding);
    const pod = d.spec.template.spec;
    const container = pod.containers[0];
    assert.ok(container);
    const env = Object.fromEntries(container.env.map((e) => [e.name, e.value]));
    assert.equal(env.NIMBUS_STATE_BACKEND, 'service');
    assert.equal(env.NIMBUS_STATE_URL, 'http://nimbus-gateway-state.nimbus.svc:8081');
    assert.equal(env.NIMBUS_STATE_TOKEN_FILE, '/var/nimbus/state/token');
    assert.equal(env.NIMBUS_STATE_MAX_VALUE_BYTES, '65536');
    assert.equal(env.NIMBUS_STATE_TOKEN, undefined, 'never the token itself');
    assert.ok(!container.env.some((e) => /REDIS/.test(e.name) || /redis:/.test(e.value ?? '')), 'no Redis');
    assert.deepEqual(
      pod.volumes.find((v) => v.name === 'state-credentials'),
      {
        name: 'state-credentials',
        secret: { secretName: 'hello-state', items: [{ key: 'token', path: 'token' }] },
      },
    );
    assert.deepEqual(
      container.volumeMounts.find((m) => m.name === 'state-credentials'),
      { name: 'state-credentials', mountPath: '/var/nimbus/state', readOnly: true },
    );
    assert.equal(d.spec.template.metadata.annotations[STATE_CREDENTIALS_ANNOTATION], '0123456789abcdef');
    assert.equal(new Set(container.env.map((e) => e.name)).size, container.env.length, 'each name once');
  });

  it('gives a function without state its token for ctx.publish alone: the events settings, the token file, no NIMBUS_STATE_*', () => {
    const tokenOnly: StateBinding = { ...binding, state: false, secretName: 'hello-token' };
    const d = buildDeployment(fn({}), settings, 1, 'h', tokenOnly);
    const container = d.spec.template.spec.containers[0];
    assert.ok(container);
    const env = Object.fromEntries(container.env.map((e) => [e.name, e.value]));
    assert.equal(env.NIMBUS_EVENTS_URL, 'http://nimbus-gateway-state.nimbus.svc:8081');
    assert.equal(env.NIMBUS_EVENTS_TOKEN_FILE, '/var/nimbus/state/token');
    assert.equal(env.NIMBUS_EVENTS_TOKEN, undefined, 'never the token itself');
    assert.deepEqual(
      container.env.filter((e) => e.name.startsWith('NIMBUS_STATE_')),
      [],
    );
    assert.deepEqual(d.spec.template.spec.volumes.find((v) => v.name === 'state-credentials')?.secret, {
      secretName: 'hello-token',
      items: [{ key: 'token', path: 'token' }],
    });
  });

  it('leaves all of that out without a binding', () => {
    const d = buildDeployment(fn({ state: { enabled: true } }), settings, 1, 'h');
    const container = d.spec.template.spec.containers[0];
    assert.deepEqual(
      container?.env.filter((e) => e.name.startsWith('NIMBUS_STATE_')),
      [],
    );
    assert.equal(
      d.spec.template.spec.volumes.some((v) => v.name === 'state-credentials'),
      false,
    );
    assert.equal(STATE_CREDENTIALS_ANNOTATION in d.spec.template.metadata.annotations, false);
  });

  it('rolls the pods when the credentials change, and only then', () => {
    const input = fn({ state: { enabled: true } });
    const hash = (b: StateBinding | undefined) =>
      desiredObjects(input, settings, 1, b).deployment.spec.template.metadata.annotations[
        SPEC_HASH_ANNOTATION
      ];
    assert.equal(hash(binding), hash({ ...binding }));
    assert.notEqual(hash(binding), hash({ ...binding, credentialsRevision: 'fedcba9876543210' }));
    assert.notEqual(hash(binding), hash(undefined));
    assert.equal(
      desiredObjects(input, settings, 3, binding).deployment.spec.template.metadata.annotations[
        SPEC_HASH_ANNOTATION
      ],
      hash(binding),
      'replicas roll nothing',
    );
  });

  it('keeps the token in a Secret named after the Function, owned by it', () => {
    const secret = buildStateSecret(fn({ state: { enabled: true } }), 'p'.repeat(43));
    assert.equal(secret.metadata.name, 'hello-state');
    assert.equal(stateSecretName(fn({})), 'hello-state');
    assert.equal(secret.metadata.namespace, 'team');
    assert.equal(secret.type, 'Opaque');
    assert.deepEqual(
      secret.metadata.ownerReferences.map((o) => [o.kind, o.uid, o.controller]),
      [['Function', 'uid-1', true]],
    );
    assert.equal(secret.metadata.labels['app.kubernetes.io/managed-by'], 'nimbus');
    assert.deepEqual(Object.keys(secret.data), ['token']);
    assert.equal(Buffer.from(secret.data.token ?? '', 'base64').toString(), 'p'.repeat(43));
  });
});
