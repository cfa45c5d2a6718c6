import assert from 'node:assert/strict';
import { type FunctionResource, validateFunction } from '@nimbus/api';
import { stateToken } from '@nimbus/store';
import { ADOPTED_LABEL, POOL_LABEL } from '../src/resources/metadata.js';
import {
  POOL_KEY_SECRET,
  POOL_TOKEN_FILE,
  adoptionPatch,
  buildPoolDeployment,
  buildPoolKeySecret,
  poolable,
  specialisation,
} from '../src/resources/pool.js';

const settings = {
  runtimeImage: 'nimbus/runtime-node:0.1.0',
  pythonRuntimeImage: 'nimbus/runtime-python:0.1.0',
  gatewayUrl: 'http://gw.nimbus.svc',
  runAsUser: 10001,
};

function fn(spec: Record<string, unknown>): FunctionResource {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name: 'hello', namespace: 'team', uid: 'uid-1' },
    spec,
  });
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}

describe('the warm pool’s builders', () => {
  const inline = { source: { inline: 'export default () => 1' } };
  const cases: [string, Record<string, unknown>, boolean][] = [
    ['inline code', inline, true],
    ['its own image', { image: 'registry.example/hello:1' }, false],
    ['secrets to mount', { ...inline, secrets: ['token'] }, false],
    ['state, whose token is mounted', { ...inline, state: { enabled: true } }, false],
    ['state turned off', { ...inline, state: { enabled: false } }, true],
    ['Python code inline', { runtime: 'python3.11', source: { inline: 'def handle(e, c): return 1' } }, true],
    ['Python code and state', { runtime: 'python3.11', ...inline, state: { enabled: true } }, false],
    ['Python in its own image', { runtime: 'python3.11', image: 'registry.example/py:1' }, false],
    ['a container image', { runtime: 'container', image: 'registry.example/server:1' }, false],
  ];
  for (const [what, spec, expected] of cases) {
    it(`a function with ${what} ${expected ? 'can' : 'cannot'} take a pool pod over`, () =>
      assert.equal(poolable(fn(spec)), expected));
  }

  it('the pool Deployment: generic pods, Ready while generic, no token in any env value', () => {
    const d = buildPoolDeployment('team', settings, 2, 'node20');
    assert.equal(d.metadata.name, 'nimbus-pool-node20');
    assert.equal(d.metadata.namespace, 'team');
    assert.equal(d.spec.replicas, 2);
    assert.deepEqual(d.spec.selector.matchLabels, { [POOL_LABEL]: 'node20' });
    assert.equal(d.spec.template.metadata.labels['app.kubernetes.io/managed-by'], 'nimbus');
    const container = d.spec.template.spec.containers[0];
    assert.equal(container?.image, settings.runtimeImage);
    assert.equal(container?.env.find((e) => e.name === 'NIMBUS_POOL')?.value, '1');
    assert.deepEqual(container?.readinessProbe, {
      httpGet: { path: '/_/health', port: 'http' },
      periodSeconds: 1,
      failureThreshold: 1,
    });
    assert.equal(container?.securityContext.readOnlyRootFilesystem, true);
    const values = JSON.stringify(d);
    assert.ok(!/NIMBUS_POOL_TOKEN"/.test(values), 'no NIMBUS_POOL_TOKEN variable at all');
    assert.equal(container?.env.find((e) => e.name === 'NIMBUS_POOL_TOKEN_FILE')?.value, POOL_TOKEN_FILE);
  });

  it('the pool key is mounted by the init container alone, and the token crosses on a memory emptyDir', () => {
    const { spec } = buildPoolDeployment('team', settings, 1, 'node20').spec.template;
    const [init, ...moreInit] = spec.initContainers ?? [];
    assert.equal(moreInit.length, 0);
    assert.equal(init?.image, settings.runtimeImage);
    assert.deepEqual(init?.args, ['/app/runtime-node/dist/pool-token-init.cjs']);
    assert.deepEqual(
      init?.env.find((e) => e.name === 'NIMBUS_POD_UID'),
      { name: 'NIMBUS_POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
    );
    const keyVolume = spec.volumes.find((v) => v.secret?.secretName === POOL_KEY_SECRET);
    assert.ok(keyVolume !== undefined);
    assert.deepEqual(
      init?.volumeMounts.map((m) => [m.name, m.readOnly]),
      [
        [keyVolume.name, true],
        ['pool-token', false],
      ],
    );
    for (const container of spec.containers)
      assert.ok(
        !container.volumeMounts.some((m) => m.name === keyVolume.name),
        'the runtime never sees the key',
      );
    assert.deepEqual(spec.volumes.find((v) => v.name === 'pool-token')?.emptyDir, {
      medium: 'Memory',
      sizeLimit: '1Mi',
    });
  });

  it('the Python pool: its own name and label, the runtime-python image, the same token init and lock-down', () => {
    const node = buildPoolDeployment('team', settings, 2, 'node20');
    const python = buildPoolDeployment('team', settings, 2, 'python3.11');
    assert.equal(python.metadata.name, 'nimbus-pool-python3-11');
    assert.deepEqual(python.spec.selector.matchLabels, { [POOL_LABEL]: 'python3.11' });
    assert.equal(python.spec.template.metadata.labels[POOL_LABEL], 'python3.11');
    const pod = python.spec.template.spec;
    assert.equal(pod.containers[0]?.image, settings.pythonRuntimeImage);
    // The token is derived by runtime-node's script: the init container runs its image.
    assert.equal(pod.initContainers?.[0]?.image, settings.runtimeImage);
    assert.deepEqual(pod.initContainers?.[0]?.args, ['/app/runtime-node/dist/pool-token-init.cjs']);
    // Everything else is the Node pool's: env, probes, security contexts, volumes and mounts.
    const withoutMainImage = (d: typeof node) => ({
      ...d.spec.template.spec,
      containers: d.spec.template.spec.containers.map(({ image: _, ...rest }) => rest),
    });
    assert.deepEqual(withoutMainImage(python), withoutMainImage(node));
  });

  it('makes no pool for a runtime this cluster has no image for', () => {
    const { pythonRuntimeImage: _, ...nodeOnly } = settings;
    assert.throws(
      () => buildPoolDeployment('team', nodeOnly, 1, 'python3.11'),
      /no image for a python3\.11 pool/,
    );
  });

  it('the pool key Secret: the key base64 under `key`, Nimbus’s, owned by nothing', () => {
    const secret = buildPoolKeySecret('team', Buffer.alloc(32, 7));
    assert.equal(secret.metadata.name, POOL_KEY_SECRET);
    assert.equal(secret.metadata.namespace, 'team');
    assert.equal(secret.metadata.labels['app.kubernetes.io/managed-by'], 'nimbus');
    assert.deepEqual(secret.metadata.ownerReferences, []);
    assert.deepEqual(Buffer.from(secret.data.key ?? '', 'base64'), Buffer.alloc(32, 7));
  });

  it('what a pool pod is sent: the function’s env with the platform’s settings, and its code at the handler’s path', () => {
    const f = fn({
      source: { inline: 'export const hello = () => 1' },
      handler: 'lib/greet.hello',
      env: [{ name: 'GREETING', value: 'hi' }],
    });
    const { env, files } = specialisation(f, settings);
    assert.equal(env.GREETING, 'hi');
    assert.equal(env.NIMBUS_HANDLER, 'lib/greet.hello');
    assert.equal(env.NIMBUS_FUNCTION_NAME, 'hello');
    assert.equal(env.NIMBUS_GATEWAY_URL, settings.gatewayUrl);
    assert.deepEqual(files, { 'lib/greet.mjs': 'export const hello = () => 1' });
  });

  it('what a Python pool pod is sent: main.handle when the handler is left at the default, and the code as main.py', () => {
    const f = fn({
      runtime: 'python3.11',
      source: { inline: 'def handle(event, ctx):\n    return "hi"\n' },
      env: [{ name: 'GREETING', value: 'hi' }],
    });
    const { env, files } = specialisation(f, settings);
    assert.equal(env.NIMBUS_HANDLER, 'main.handle');
    assert.equal(env.GREETING, 'hi');
    assert.equal(env.NIMBUS_FUNCTION_NAME, 'hello');
    assert.deepEqual(files, { 'main.py': 'def handle(event, ctx):\n    return "hi"\n' });
    const nested = specialisation(
      fn({ runtime: 'python3.11', source: { inline: 'x = 1' }, handler: 'lib/greet.hello' }),
      settings,
    );
    assert.equal(nested.env.NIMBUS_HANDLER, 'lib/greet.hello');
    assert.deepEqual(nested.files, { 'lib/greet.py': 'x = 1' });
  });

  it('what a pool pod is sent for ctx.publish: the internal port and the function’s own token, when there is a key', () => {
    const key = 'k'.repeat(40);
    const f = fn({ source: { inline: 'export default () => 1' } });
    const { env } = specialisation(f, {
      ...settings,
      functionTokens: { serviceUrl: 'http://gw-state:8081', key },
    });
    assert.equal(env.NIMBUS_EVENTS_URL, 'http://gw-state:8081');
    assert.equal(env.NIMBUS_EVENTS_TOKEN, stateToken(key, f.metadata.namespace, 'hello'));
    const without = specialisation(f, settings).env;
    assert.equal(without.NIMBUS_EVENTS_URL, undefined);
    assert.equal(without.NIMBUS_EVENTS_TOKEN, undefined);
  });

  it('the adoption patch moves the pod out of the pool into the function, owned by it', () => {
    const patch = adoptionPatch(fn(inline)) as {
      metadata: { labels: Record<string, string | null>; ownerReferences: { kind: string; uid: string }[] };
    };
    assert.equal(patch.metadata.labels[POOL_LABEL], null);
    assert.equal(patch.metadata.labels[ADOPTED_LABEL], 'true');
    assert.equal(patch.metadata.labels['nimbus.dev/function'], 'hello');
    assert.deepEqual(
      patch.metadata.ownerReferences.map((o) => [o.kind, o.uid]),
      [['Function', 'uid-1']],
    );
  });
});
