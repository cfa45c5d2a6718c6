import assert from 'node:assert/strict';
import { type FunctionResource, validateFunction } from '@nimbus/api';
import { type DesiredObjects, NotDeployableError, desiredObjects } from '../src/reconcile/desired-objects.js';
import type { DeploymentSettings } from '../src/resources/deployment.js';
import { SPEC_HASH_ANNOTATION } from '../src/resources/metadata.js';

const settings: DeploymentSettings = {
  runtimeImage: 'nimbus/runtime-node:0.1.0',
  gatewayUrl: 'http://gateway.nimbus.svc',
  runAsUser: 10001,
};

const CODE = 'export default () => 1';

/** A validated Function (defaults applied); inline code unless the spec names an image or a source. */
function fn(spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}): FunctionResource {
  const source = 'image' in spec || 'source' in spec ? {} : { source: { inline: CODE } };
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name: 'hello', namespace: 'team', uid: 'uid-1', ...metadata },
    spec: { ...source, ...spec },
  });
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}

/** The spec hash, checked to be the same on the Deployment and on its pod template. */
function hashOf(objects: DesiredObjects): string {
  const onDeployment = objects.deployment.metadata.annotations?.[SPEC_HASH_ANNOTATION];
  const onTemplate = objects.deployment.spec.template.metadata.annotations[SPEC_HASH_ANNOTATION];
  assert.equal(onDeployment, onTemplate, 'the Deployment and its pod template carry the same hash');
  assert.match(onTemplate ?? '', /^[0-9a-f]{16}$/);
  return onTemplate as string;
}

describe('desiredObjects', () => {
  it('gives identical objects and hash for the same Function built twice', () => {
    const a = desiredObjects(fn({ env: [{ name: 'GREETING', value: 'hi' }], timeout: '10s' }), settings, 1);
    const b = desiredObjects(fn({ env: [{ name: 'GREETING', value: 'hi' }], timeout: '10s' }), settings, 1);
    assert.deepEqual(a, b);
    assert.equal(hashOf(a), hashOf(b));
  });

  it('gives the same hash for a spec written with its keys in another order', () => {
    const a = desiredObjects(fn({ timeout: '10s', concurrency: 2 }), settings, 1);
    const b = desiredObjects(fn({ concurrency: 2, timeout: '10s' }), settings, 1);
    assert.equal(hashOf(a), hashOf(b));
  });

  it('leaves the Function it is given unchanged', () => {
    const input = fn({ env: [{ name: 'A', value: '1' }] });
    const copy = structuredClone(input);
    desiredObjects(input, settings, 1);
    assert.deepEqual(input, copy);
  });

  describe('the spec hash (pods roll exactly when what they run changes)', () => {
    const base = { spec: { env: [{ name: 'GREETING', value: 'hi' }] }, settings };
    const cases: {
      name: string;
      spec?: Record<string, unknown>;
      metadata?: Record<string, unknown>;
      settings?: Partial<DeploymentSettings>;
      /** The entries of spec.secrets that opted in. */
      mounted?: string[];
      rolls: boolean;
    }[] = [
      {
        name: 'an env var value changed',
        spec: { env: [{ name: 'GREETING', value: 'hello' }] },
        rolls: true,
      },
      {
        name: 'an env var added',
        spec: {
          env: [
            { name: 'GREETING', value: 'hi' },
            { name: 'NAME', value: 'x' },
          ],
        },
        rolls: true,
      },
      {
        name: 'the inline code changed',
        spec: { source: { inline: 'export default () => 2' } },
        rolls: true,
      },
      {
        name: "the platform's runtime image changed",
        settings: { runtimeImage: 'nimbus/runtime-node:0.2.0' },
        rolls: true,
      },
      {
        name: "the platform's gateway URL changed",
        settings: { gatewayUrl: 'http://gw.other.svc' },
        rolls: true,
      },
      { name: "the platform's run-as user changed", settings: { runAsUser: 20002 }, rolls: true },
      { name: 'the timeout changed', spec: { timeout: '45s' }, rolls: true },
      { name: 'the concurrency changed', spec: { concurrency: 7 }, rolls: true },
      { name: 'the handler changed', spec: { handler: 'index.other' }, rolls: true },
      {
        name: 'a secret added that opted in',
        spec: { secrets: ['api-token'] },
        mounted: ['api-token'],
        rolls: true,
      },
      {
        name: 'a secret added that did not opt in (never mounted)',
        spec: { secrets: ['api-token'] },
        rolls: false,
      },
      { name: 'a memory limit set', spec: { resources: { limits: { memory: '256Mi' } } }, rolls: true },
      { name: 'an image instead of inline code', spec: { image: 'registry.example/hello:1' }, rolls: true },
      { name: 'only scale.max changed', spec: { scale: { max: 42 } }, rolls: false },
      { name: 'only scale.min changed', spec: { scale: { min: 3 } }, rolls: false },
      { name: 'only scale.target changed', spec: { scale: { target: 50 } }, rolls: false },
      { name: 'only http.auth changed', spec: { http: { auth: 'key' } }, rolls: false },
      { name: "only the Function's own labels changed", metadata: { labels: { team: 'b' } }, rolls: false },
      { name: 'only the uid changed (the Function was recreated)', metadata: { uid: 'uid-2' }, rolls: false },
    ];

    const before = hashOf(desiredObjects(fn(base.spec), base.settings, 1));
    for (const c of cases) {
      it(`${c.rolls ? 'changes' : 'keeps'}: ${c.name}`, () => {
        const after = desiredObjects(
          fn({ ...base.spec, ...c.spec }, c.metadata),
          { ...settings, ...c.settings },
          1,
          undefined,
          c.mounted,
        );
        if (c.rolls) assert.notEqual(hashOf(after), before);
        else assert.equal(hashOf(after), before);
      });
    }
  });

  describe('the runtime-python image (NIMBUS_PYTHON_RUNTIME_IMAGE)', () => {
    const python = (image: string) => ({ ...settings, pythonRuntimeImage: image });
    const pyFn = () => fn({ runtime: 'python3.11', source: { inline: 'def handle(e, c):\n    return 1\n' } });
    it('a new one rolls the Python functions', () =>
      assert.notEqual(
        hashOf(desiredObjects(pyFn(), python('nimbus/runtime-python:0.1.0'), 1)),
        hashOf(desiredObjects(pyFn(), python('nimbus/runtime-python:0.2.0'), 1)),
      ));
    it('neither its setting nor its change rolls a Node function', () => {
      const before = hashOf(desiredObjects(fn(), settings, 1));
      assert.equal(hashOf(desiredObjects(fn(), python('nimbus/runtime-python:0.1.0'), 1)), before);
      assert.equal(hashOf(desiredObjects(fn(), python('nimbus/runtime-python:0.2.0'), 1)), before);
    });
  });

  describe('replicas', () => {
    for (const replicas of [0, 1, 7]) {
      it(`the Deployment asks for the ${replicas} replicas the autoscaler decided, and the pods do not roll`, () => {
        const objects = desiredObjects(fn(), settings, replicas);
        assert.equal(objects.deployment.spec.replicas, replicas);
        assert.equal(hashOf(objects), hashOf(desiredObjects(fn(), settings, 1)));
      });
    }
  });

  it('an inline Function gets a ConfigMap holding its code, mounted by the Deployment', () => {
    const { configMap, deployment } = desiredObjects(fn(), settings, 1);
    assert.ok(configMap !== undefined);
    assert.equal(configMap.metadata.name, 'hello-source');
    assert.deepEqual(Object.values(configMap.data), [CODE]);
    assert.equal(
      deployment.spec.template.spec.volumes.find((v) => v.name === 'source')?.configMap?.name,
      'hello-source',
    );
  });

  it('an image Function gets no ConfigMap and runs its own image', () => {
    const { configMap, deployment, service } = desiredObjects(
      fn({ image: 'registry.example/hello:1' }),
      settings,
      1,
    );
    assert.equal(configMap, undefined);
    assert.equal(deployment.spec.template.spec.containers[0]?.image, 'registry.example/hello:1');
    assert.equal(
      deployment.spec.template.spec.volumes.some((v) => v.name === 'source'),
      false,
    );
    assert.equal(service.metadata.name, 'hello');
  });

  describe('Functions a cluster cannot run', () => {
    const MiB = 1024 * 1024;
    const cases: { name: string; spec: Record<string, unknown>; reason: string; message: RegExp }[] = [
      {
        name: 'source.path (local mode only): SourcePathNotSupported',
        spec: { source: { path: './hello' } },
        reason: 'SourcePathNotSupported',
        message: /spec\.source\.path/,
      },
      {
        name: 'inline code one byte over 1 MiB: SourceTooLarge',
        spec: { source: { inline: 'x'.repeat(MiB + 1) } },
        reason: 'SourceTooLarge',
        message: new RegExp(`${MiB + 1} bytes`),
      },
      {
        name: 'inline code under a million characters but over 1 MiB in UTF-8: SourceTooLarge',
        spec: { source: { inline: 'é'.repeat(600_000) } },
        reason: 'SourceTooLarge',
        message: /1200000 bytes/,
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        assert.throws(
          () => desiredObjects(fn(c.spec), settings, 1),
          (err: unknown) => {
            assert.ok(err instanceof NotDeployableError, String(err));
            assert.equal(err.name, 'NotDeployableError');
            assert.equal(err.reason, c.reason);
            assert.match(err.message, c.message);
            return true;
          },
        );
      });
    }

    it('inline code of exactly 1 MiB is still deployable', () => {
      const { configMap } = desiredObjects(fn({ source: { inline: 'x'.repeat(MiB) } }), settings, 1);
      assert.equal(Object.values(configMap?.data ?? {})[0]?.length, MiB);
    });
  });
});
