import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ConfigError, parseWatchNamespaces } from '@nimbus/api';
import { loadClusterConfig } from '../src/cluster/config.js';

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

/** Every cluster gateway needs one (NIMBUS_REPORT_TOKEN). */
const TOKEN = 'report-token-0123456789';

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

  describe('concurrency reports', () => {
    let kubeconfig: string;
    before(() => {
      kubeconfig = join(mkdtempSync(join(tmpdir(), 'nimbus-gw-config-')), 'kubeconfig');
      writeFileSync(
        kubeconfig,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443' } }],
          users: [{ name: 'u', user: { token: 't' } }],
          contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
          'current-context': 'x',
        }),
      );
    });
    after(() => rmSync(dirname(kubeconfig), { recursive: true, force: true }));

    it('reports nowhere by default, once a second, under the pod name', () => {
      const config = loadClusterConfig({
        KUBECONFIG: kubeconfig,
        NIMBUS_REPORT_TOKEN: TOKEN,
        POD_NAME: 'gateway-7f9-abc',
      });
      assert.deepEqual(config.controllers, []);
      assert.equal(config.wakeTimeoutMs, 5000);
      assert.equal(config.reportIntervalMs, 1000);
      assert.equal(config.reporter, 'gateway-7f9-abc');
      assert.equal(config.reportToken, TOKEN);
    });
    it('takes a list of controller base URLs, without trailing slashes', () => {
      const config = loadClusterConfig({
        KUBECONFIG: kubeconfig,
        NIMBUS_REPORT_TOKEN: TOKEN,
        NIMBUS_CONTROLLER_URLS: 'http://10.0.0.5:9090/, http://10.0.0.6:9090',
      });
      assert.deepEqual(config.controllers, [
        { kind: 'static', url: 'http://10.0.0.5:9090' },
        { kind: 'static', url: 'http://10.0.0.6:9090' },
      ]);
    });
    it('takes dns+http://<headless service>:<port>, to be looked up for every controller pod', () => {
      const config = loadClusterConfig({
        KUBECONFIG: kubeconfig,
        NIMBUS_REPORT_TOKEN: TOKEN,
        NIMBUS_CONTROLLER_URLS: 'dns+http://nimbus-controller-peers.nimbus.svc:9090',
      });
      assert.deepEqual(config.controllers, [
        { kind: 'dns', protocol: 'http:', host: 'nimbus-controller-peers.nimbus.svc', port: '9090' },
      ]);
    });
    it('names the key of a bad URL, token or interval', () => {
      assert.equal(
        keyOf({ KUBECONFIG: kubeconfig, NIMBUS_CONTROLLER_URLS: 'controller:9090' }),
        'NIMBUS_CONTROLLER_URLS',
      );
      assert.equal(
        keyOf({ KUBECONFIG: kubeconfig, NIMBUS_CONTROLLER_URLS: 'http://c:9090/v1' }),
        'NIMBUS_CONTROLLER_URLS',
      );
      assert.equal(
        keyOf({ KUBECONFIG: kubeconfig, NIMBUS_CONTROLLER_URLS: 'dns+ftp://c:9090' }),
        'NIMBUS_CONTROLLER_URLS',
      );
      assert.equal(keyOf({ KUBECONFIG: kubeconfig, NIMBUS_REPORT_TOKEN: 'short' }), 'NIMBUS_REPORT_TOKEN');
      // In a cluster it is required whether or not controllers are named, as the controller requires it.
      assert.equal(
        keyOf({ KUBECONFIG: kubeconfig, NIMBUS_CONTROLLER_URLS: 'http://10.0.0.5:9090' }),
        'NIMBUS_REPORT_TOKEN',
      );
      assert.equal(keyOf({ KUBECONFIG: kubeconfig }), 'NIMBUS_REPORT_TOKEN');
      assert.equal(keyOf({ KUBECONFIG: kubeconfig, NIMBUS_REPORT_TOKEN: '' }), 'NIMBUS_REPORT_TOKEN');
      assert.equal(
        keyOf({ KUBECONFIG: kubeconfig, NIMBUS_REPORT_TOKEN: TOKEN, NIMBUS_WAKE_REQUEST_TIMEOUT_MS: '5' }),
        'NIMBUS_WAKE_REQUEST_TIMEOUT_MS',
      );
      assert.equal(
        keyOf({ KUBECONFIG: kubeconfig, NIMBUS_REPORT_TOKEN: TOKEN, NIMBUS_REPORT_INTERVAL_MS: '10' }),
        'NIMBUS_REPORT_INTERVAL_MS',
      );
    });
  });
});
