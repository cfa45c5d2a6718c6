import assert from 'node:assert/strict';
import { loadClusterConfig } from '../src/cluster/config.js';
import { parseWatchNamespaces } from '../src/config.js';
import { ConfigError } from '../src/config.js';

describe('parseWatchNamespaces (NIMBUS_WATCH_NAMESPACES)', () => {
  const cases: [string | undefined, readonly string[] | undefined][] = [
    [undefined, undefined],
    ['', undefined],
    [' , ', undefined],
    ['team', ['team']],
    ['a, b ,a', ['a', 'b']],
  ];
  for (const [raw, expected] of cases) {
    it(`${JSON.stringify(raw)} → ${JSON.stringify(expected)}`, () =>
      assert.deepEqual(parseWatchNamespaces(raw), expected));
  }
  it('refuses a name that is not a namespace, naming the variable', () => {
    assert.throws(
      () => parseWatchNamespaces('ok,Not_OK'),
      (err: unknown) =>
        err instanceof ConfigError && err.key === 'NIMBUS_WATCH_NAMESPACES' && /Not_OK/.test(err.message),
    );
  });
});

describe('loadClusterConfig', () => {
  const keyOf = (env: Record<string, string>) => {
    try {
      loadClusterConfig(env);
      return undefined;
    } catch (err) {
      return err instanceof ConfigError ? err.key : `not a ConfigError: ${err}`;
    }
  };
  it('names the key at fault', () => {
    assert.equal(keyOf({ KUBECONFIG: '/nonexistent/kubeconfig' }), 'KUBECONFIG');
    assert.equal(keyOf({ NIMBUS_LOG_LEVEL: 'loud' }), 'NIMBUS_LOG_LEVEL');
    assert.equal(
      keyOf({ NIMBUS_DRAIN_TIMEOUT_MS: '-1', KUBECONFIG: '/nonexistent' }),
      'NIMBUS_DRAIN_TIMEOUT_MS',
    );
    assert.equal(keyOf({ PORT: 'eighty' }), 'PORT');
  });
});
