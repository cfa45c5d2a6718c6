import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { ConfigError } from '@nimbus/api';
import { type ClusterConfig, loadClusterConfig } from '../src/cluster/config.js';

type Env = Record<string, string | undefined>;

/** The least a controller in a cluster needs: the chart sets these. */
const MINIMAL: Env = {
  NIMBUS_RUNTIME_IMAGE: 'ghcr.io/nimbus/runtime-node:0.1.0',
  NIMBUS_GATEWAY_URL: 'http://nimbus-gateway.nimbus.svc:8080',
  POD_NAMESPACE: 'nimbus',
  POD_NAME: 'nimbus-controller-7d9f-abcde',
  NIMBUS_REPORT_TOKEN: 'report-token-0123456789',
};

const load = (overrides: Env = {}): ClusterConfig => loadClusterConfig({ ...MINIMAL, ...overrides });

describe('loadClusterConfig', () => {
  it('takes the platform namespace from NIMBUS_PLATFORM_NAMESPACE over POD_NAMESPACE, and refuses one that is not a namespace', () => {
    assert.equal(load({ NIMBUS_PLATFORM_NAMESPACE: 'platform' }).platformNamespace, 'platform');
    assert.equal(
      load({ POD_NAMESPACE: undefined, NIMBUS_LEASE_NAMESPACE: 'x' }).platformNamespace,
      undefined,
    );
    assert.throws(() => load({ NIMBUS_PLATFORM_NAMESPACE: 'Not_A_Namespace' }), /NIMBUS_PLATFORM_NAMESPACE/);
  });

  it('fills in the defaults around the minimal settings', () => {
    const config = load();
    assert.deepEqual(
      { ...config, lease: { ...config.lease } },
      {
        namespaces: [],
        runtimeImage: 'ghcr.io/nimbus/runtime-node:0.1.0',
        pythonRuntimeImage: undefined,
        gatewayUrl: 'http://nimbus-gateway.nimbus.svc:8080',
        runAsUser: 10001,
        workers: 4,
        resyncMs: 600_000,
        triggerSecretCheckMs: 30_000,
        lease: {
          name: 'nimbus-controller',
          namespace: 'nimbus',
          identity: 'nimbus-controller-7d9f-abcde',
          leaseDurationMs: 15_000,
          renewDeadlineMs: 10_000,
          retryPeriodMs: 2000,
        },
        metricsHost: '0.0.0.0',
        metricsPort: 9090,
        drainMs: 20_000,
        logLevel: 'info',
        tracing: { endpoint: undefined, sampleRatio: 1, serviceName: 'nimbus-controller' },
        reportToken: 'report-token-0123456789',
        autoscaler: {},
        warmPoolSize: 0,
        natsUrl: undefined,
        natsCredentials: undefined,
        state: undefined,
        errorDetail: undefined,
        functionIngress: undefined,
        // Where source triggers' Secrets are copied: the controller's own namespace.
        platformNamespace: 'nimbus',
      },
    );
  });

  it('takes the runtime-python image from NIMBUS_PYTHON_RUNTIME_IMAGE; empty is none', () => {
    assert.equal(
      load({ NIMBUS_PYTHON_RUNTIME_IMAGE: 'ghcr.io/nimbus/runtime-python:0.1.0' }).pythonRuntimeImage,
      'ghcr.io/nimbus/runtime-python:0.1.0',
    );
    assert.equal(load({ NIMBUS_PYTHON_RUNTIME_IMAGE: '' }).pythonRuntimeImage, undefined);
  });

  describe('function state (NIMBUS_REDIS_URL, NIMBUS_STATE_SERVICE_URL, NIMBUS_STATE_KEY)', () => {
    const key = 'k'.repeat(32);
    it('takes the state service and key for tokens, and Redis for clearing keys, with the store timeout and limit', () => {
      assert.deepEqual(
        load({
          NIMBUS_REDIS_URL: 'redis://admin:s3cret@redis.nimbus.svc:6379/0',
          NIMBUS_REDIS_COMMAND_TIMEOUT_MS: '500',
          NIMBUS_STATE_MAX_VALUE_BYTES: '1024',
          NIMBUS_STATE_SERVICE_URL: 'http://nimbus-gateway-state.nimbus.svc:8081/',
          NIMBUS_STATE_KEY: key,
        }).state,
        {
          adminUrl: 'redis://admin:s3cret@redis.nimbus.svc:6379/0',
          serviceUrl: 'http://nimbus-gateway-state.nimbus.svc:8081',
          key,
          commandTimeoutMs: 500,
          maxValueBytes: 1024,
        },
      );
    });

    it('keeps Redis alone (keys are cleared; no tokens are made) and defaults the rest', () => {
      assert.deepEqual(load({ NIMBUS_REDIS_URL: 'redis://:pw@10.0.0.5:6379' }).state, {
        adminUrl: 'redis://:pw@10.0.0.5:6379',
        serviceUrl: undefined,
        key: undefined,
        commandTimeoutMs: 1000,
        maxValueBytes: 65536,
      });
    });

    const bad: [string, Env, string, RegExp][] = [
      [
        'an admin URL that is not Redis',
        { NIMBUS_REDIS_URL: 'http://redis:6379' },
        'NIMBUS_REDIS_URL',
        /redis:\/\//,
      ],
      [
        'the Redis URL for pods of earlier versions',
        { NIMBUS_REDIS_URL: 'redis://r:6379', NIMBUS_STATE_REDIS_URL: 'redis://r:6379' },
        'NIMBUS_STATE_REDIS_URL',
        /no longer used: functions do not connect to Redis/,
      ],
      [
        'a service URL that is not http',
        { NIMBUS_STATE_SERVICE_URL: 'redis://r:6379', NIMBUS_STATE_KEY: 'k'.repeat(32) },
        'NIMBUS_STATE_SERVICE_URL',
        /http\(s\) base URL/,
      ],
      [
        'a service URL without a key',
        { NIMBUS_STATE_SERVICE_URL: 'http://gw:8081' },
        'NIMBUS_STATE_KEY',
        /go together/,
      ],
      [
        'a short key',
        { NIMBUS_STATE_SERVICE_URL: 'http://gw:8081', NIMBUS_STATE_KEY: 'short' },
        'NIMBUS_STATE_KEY',
        /at least 32 characters/,
      ],
      [
        'a command timeout in words',
        { NIMBUS_REDIS_URL: 'redis://r:6379', NIMBUS_REDIS_COMMAND_TIMEOUT_MS: 'soon' },
        'NIMBUS_REDIS_COMMAND_TIMEOUT_MS',
        /whole number from 10 to 60000/,
      ],
    ];
    for (const [what, env, key, message] of bad) {
      it(`refuses ${what}, naming ${key}`, () => {
        assert.throws(
          () => load(env),
          (err: unknown) => {
            assert.ok(err instanceof ConfigError, String(err));
            assert.equal(err.key, key);
            assert.match(err.message, message);
            assert.doesNotMatch(err.message, /admin-pw/, 'never echoes a password');
            return true;
          },
        );
      });
    }
  });

  it('reads the autoscaler tuning and the warm pool size, naming a bad key', () => {
    const config = load({
      NIMBUS_AUTOSCALER_STABLE_WINDOW_MS: '30000',
      NIMBUS_AUTOSCALER_UTILISATION: '0.5',
      NIMBUS_AUTOSCALER_INITIAL_SCALE: '0',
      NIMBUS_WARM_POOL_SIZE: '2',
    });
    assert.deepEqual(config.autoscaler, { stableWindowMs: 30_000, utilisation: 0.5, initialScale: 0 });
    assert.equal(config.warmPoolSize, 2);
    assert.equal(
      load({ NIMBUS_NATS_URL: 'nats://a:4222,nats://b:4222' }).natsUrl,
      'nats://a:4222,nats://b:4222',
    );
    // A stable window shorter than the default panic window takes the panic window down with it.
    assert.deepEqual(load({ NIMBUS_AUTOSCALER_STABLE_WINDOW_MS: '2000' }).autoscaler, {
      stableWindowMs: 2000,
      panicWindowMs: 2000,
    });
    for (const [key, value] of [
      ['NIMBUS_AUTOSCALER_UTILISATION', '1.5'],
      ['NIMBUS_AUTOSCALER_UTILISATION', '1e-1'],
      ['NIMBUS_AUTOSCALER_PANIC_WINDOW_MS', '70000'],
      ['NIMBUS_AUTOSCALER_MAX_SCALE_DOWN_RATE', '1'],
      ['NIMBUS_AUTOSCALER_INITIAL_SCALE', '-1'],
      ['NIMBUS_WARM_POOL_SIZE', '257'],
      ['NIMBUS_NATS_URL', 'http://nats:4222'],
      ['NIMBUS_NATS_URL', 'nats://a:4222,redis://b:6379'],
    ] as const) {
      assert.throws(
        () => load({ [key]: value }),
        (err: Error & { key?: string }) => err.key === key,
        `${key}=${value}`,
      );
    }
  });

  it('reads nothing but the env it is given', () => {
    const saved = process.env.NIMBUS_WORKERS;
    process.env.NIMBUS_WORKERS = '9';
    try {
      assert.equal(load().workers, 4);
    } finally {
      if (saved === undefined) delete process.env.NIMBUS_WORKERS;
      else process.env.NIMBUS_WORKERS = saved;
    }
  });

  describe('settings it takes', () => {
    const cases: { name: string; env: Env; check: (c: ClusterConfig) => void }[] = [
      {
        name: 'the Lease identity is the host name without POD_NAME',
        env: { POD_NAME: undefined },
        check: (c) => assert.equal(c.lease?.identity, hostname()),
      },
      {
        name: 'an empty POD_NAME counts as unset',
        env: { POD_NAME: '' },
        check: (c) => assert.equal(c.lease?.identity, hostname()),
      },
      {
        name: 'NIMBUS_LEADER_ELECTION=false: no lease, and no namespace needed for one',
        env: { NIMBUS_LEADER_ELECTION: 'false', POD_NAMESPACE: undefined },
        check: (c) => assert.equal(c.lease, undefined),
      },
      {
        name: 'NIMBUS_LEADER_ELECTION=true: a lease',
        env: { NIMBUS_LEADER_ELECTION: 'true' },
        check: (c) => assert.equal(c.lease?.name, 'nimbus-controller'),
      },
      {
        name: 'NIMBUS_LEASE_NAMESPACE wins over POD_NAMESPACE',
        env: { NIMBUS_LEASE_NAMESPACE: 'leases' },
        check: (c) => assert.equal(c.lease?.namespace, 'leases'),
      },
      {
        name: 'NIMBUS_LEASE_NAMESPACE alone is enough',
        env: { POD_NAMESPACE: undefined, NIMBUS_LEASE_NAMESPACE: 'leases' },
        check: (c) => assert.equal(c.lease?.namespace, 'leases'),
      },
      {
        name: 'the lease name, duration, deadline and retry period',
        env: {
          NIMBUS_LEASE_NAME: 'mine',
          NIMBUS_LEASE_DURATION_MS: '30000',
          NIMBUS_LEASE_RENEW_DEADLINE_MS: '20000',
          NIMBUS_LEASE_RETRY_MS: '5000',
        },
        check: (c) =>
          assert.deepEqual(
            [c.lease?.name, c.lease?.leaseDurationMs, c.lease?.renewDeadlineMs, c.lease?.retryPeriodMs],
            ['mine', 30_000, 20_000, 5000],
          ),
      },
      {
        name: 'a renew deadline 1 ms under the lease duration',
        env: { NIMBUS_LEASE_DURATION_MS: '15000', NIMBUS_LEASE_RENEW_DEADLINE_MS: '14999' },
        check: (c) => assert.equal(c.lease?.renewDeadlineMs, 14_999),
      },
      {
        name: 'the namespaces list, trimmed, without empty entries or repeats',
        env: { NIMBUS_WATCH_NAMESPACES: ' team-a , team-b,,team-a ' },
        check: (c) => assert.deepEqual(c.namespaces, ['team-a', 'team-b']),
      },
      {
        name: 'an empty namespaces list: all namespaces',
        env: { NIMBUS_WATCH_NAMESPACES: ' , ' },
        check: (c) => assert.deepEqual(c.namespaces, []),
      },
      {
        name: 'workers, resync, run-as user, metrics and drain',
        env: {
          NIMBUS_WORKERS: '64',
          NIMBUS_RESYNC_MS: '1000',
          NIMBUS_RUN_AS_USER: '1',
          NIMBUS_METRICS_HOST: '127.0.0.1',
          NIMBUS_METRICS_PORT: '0',
          NIMBUS_DRAIN_MS: '0',
        },
        check: (c) =>
          assert.deepEqual(
            [c.workers, c.resyncMs, c.runAsUser, c.metricsHost, c.metricsPort, c.drainMs],
            [64, 1000, 1, '127.0.0.1', 0, 0],
          ),
      },
      {
        name: 'an empty number counts as unset',
        env: { NIMBUS_WORKERS: '' },
        check: (c) => assert.equal(c.workers, 4),
      },
      {
        name: 'the log level',
        env: { NIMBUS_LOG_LEVEL: 'debug' },
        check: (c) => assert.equal(c.logLevel, 'debug'),
      },
      {
        name: 'the error detail handed to function pods',
        env: { NIMBUS_ERROR_DETAIL: 'full' },
        check: (c) => assert.equal(c.errorDetail, 'full'),
      },
      {
        name: 'the pods function NetworkPolicies let in, in the namespace the controller runs in',
        env: {
          NIMBUS_GATEWAY_POD_SELECTOR:
            'app.kubernetes.io/instance=nimbus,app.kubernetes.io/component=gateway',
          NIMBUS_CONTROLLER_POD_SELECTOR: 'app.kubernetes.io/component=controller',
        },
        check: (c) =>
          assert.deepEqual(c.functionIngress, {
            platformNamespace: 'nimbus',
            gatewayPods: { 'app.kubernetes.io/instance': 'nimbus', 'app.kubernetes.io/component': 'gateway' },
            controllerPods: { 'app.kubernetes.io/component': 'controller' },
          }),
      },
      {
        name: 'the platform namespace, when given, over the pod namespace',
        env: {
          NIMBUS_GATEWAY_POD_SELECTOR: 'app=gw',
          NIMBUS_CONTROLLER_POD_SELECTOR: 'app=ctl',
          NIMBUS_PLATFORM_NAMESPACE: 'platform',
        },
        check: (c) => assert.equal(c.functionIngress?.platformNamespace, 'platform'),
      },
      {
        name: 'an https gateway URL',
        env: { NIMBUS_GATEWAY_URL: 'https://gateway.example' },
        check: (c) => assert.equal(c.gatewayUrl, 'https://gateway.example'),
      },
    ];
    for (const c of cases) {
      it(c.name, () => c.check(load(c.env)));
    }
  });

  describe('a bad setting stops start-up, naming the key', () => {
    const cases: { name: string; env: Env; key: string }[] = [
      { name: 'no runtime image', env: { NIMBUS_RUNTIME_IMAGE: undefined }, key: 'NIMBUS_RUNTIME_IMAGE' },
      { name: 'an unknown error detail', env: { NIMBUS_ERROR_DETAIL: 'some' }, key: 'NIMBUS_ERROR_DETAIL' },
      {
        name: 'a gateway pod selector without the controller one',
        env: { NIMBUS_GATEWAY_POD_SELECTOR: 'app=gw' },
        key: 'NIMBUS_CONTROLLER_POD_SELECTOR',
      },
      {
        name: 'a pod selector that is not label=value pairs',
        env: { NIMBUS_GATEWAY_POD_SELECTOR: 'app', NIMBUS_CONTROLLER_POD_SELECTOR: 'app=ctl' },
        key: 'NIMBUS_GATEWAY_POD_SELECTOR',
      },
      {
        name: 'pod selectors without a namespace to find the pods in',
        env: {
          NIMBUS_GATEWAY_POD_SELECTOR: 'app=gw',
          NIMBUS_CONTROLLER_POD_SELECTOR: 'app=c',
          NIMBUS_LEADER_ELECTION: 'false',
          POD_NAMESPACE: '',
        },
        key: 'POD_NAMESPACE',
      },
      { name: 'an empty runtime image', env: { NIMBUS_RUNTIME_IMAGE: '' }, key: 'NIMBUS_RUNTIME_IMAGE' },
      { name: 'no gateway URL', env: { NIMBUS_GATEWAY_URL: undefined }, key: 'NIMBUS_GATEWAY_URL' },
      {
        name: 'a gateway URL that is a host name',
        env: { NIMBUS_GATEWAY_URL: 'nimbus-gateway' },
        key: 'NIMBUS_GATEWAY_URL',
      },
      {
        name: 'a gateway URL of another scheme',
        env: { NIMBUS_GATEWAY_URL: 'ftp://gateway' },
        key: 'NIMBUS_GATEWAY_URL',
      },
      {
        name: 'a gateway URL without a host',
        env: { NIMBUS_GATEWAY_URL: 'http://' },
        key: 'NIMBUS_GATEWAY_URL',
      },
      {
        name: 'a namespace that is not a DNS label',
        env: { NIMBUS_WATCH_NAMESPACES: 'team-a,Team_B' },
        key: 'NIMBUS_WATCH_NAMESPACES',
      },
      {
        name: 'NIMBUS_LEADER_ELECTION=maybe',
        env: { NIMBUS_LEADER_ELECTION: 'maybe' },
        key: 'NIMBUS_LEADER_ELECTION',
      },
      {
        name: 'NIMBUS_LEADER_ELECTION=TRUE (case matters)',
        env: { NIMBUS_LEADER_ELECTION: 'TRUE' },
        key: 'NIMBUS_LEADER_ELECTION',
      },
      {
        name: 'leader election without POD_NAMESPACE or NIMBUS_LEASE_NAMESPACE',
        env: { POD_NAMESPACE: undefined },
        key: 'NIMBUS_LEASE_NAMESPACE',
      },
      {
        name: 'a lease namespace that is not a DNS label',
        env: { NIMBUS_LEASE_NAMESPACE: 'Not_A_Namespace' },
        key: 'NIMBUS_LEASE_NAMESPACE',
      },
      {
        name: 'a renew deadline equal to the lease duration',
        env: { NIMBUS_LEASE_DURATION_MS: '15000', NIMBUS_LEASE_RENEW_DEADLINE_MS: '15000' },
        key: 'NIMBUS_LEASE_RENEW_DEADLINE_MS',
      },
      {
        name: 'a renew deadline longer than the lease duration',
        env: { NIMBUS_LEASE_RENEW_DEADLINE_MS: '20000' },
        key: 'NIMBUS_LEASE_RENEW_DEADLINE_MS',
      },
      {
        name: 'a retry period equal to the renew deadline',
        env: { NIMBUS_LEASE_RENEW_DEADLINE_MS: '5000', NIMBUS_LEASE_RETRY_MS: '5000' },
        key: 'NIMBUS_LEASE_RETRY_MS',
      },
      {
        name: 'a lease duration under a second',
        env: { NIMBUS_LEASE_DURATION_MS: '999' },
        key: 'NIMBUS_LEASE_DURATION_MS',
      },
      { name: 'NIMBUS_WORKERS=0', env: { NIMBUS_WORKERS: '0' }, key: 'NIMBUS_WORKERS' },
      {
        name: "no report token: its port would take anyone's reports and wakes",
        env: { NIMBUS_REPORT_TOKEN: undefined },
        key: 'NIMBUS_REPORT_TOKEN',
      },
      {
        name: 'an empty report token',
        env: { NIMBUS_REPORT_TOKEN: '' },
        key: 'NIMBUS_REPORT_TOKEN',
      },
      {
        name: 'a report token under 16 characters',
        env: { NIMBUS_REPORT_TOKEN: 'short' },
        key: 'NIMBUS_REPORT_TOKEN',
      },
      { name: 'NIMBUS_WORKERS=65', env: { NIMBUS_WORKERS: '65' }, key: 'NIMBUS_WORKERS' },
      { name: 'NIMBUS_WORKERS=2.5', env: { NIMBUS_WORKERS: '2.5' }, key: 'NIMBUS_WORKERS' },
      { name: 'NIMBUS_WORKERS=four', env: { NIMBUS_WORKERS: 'four' }, key: 'NIMBUS_WORKERS' },
      {
        name: 'a metrics port over 65535',
        env: { NIMBUS_METRICS_PORT: '65536' },
        key: 'NIMBUS_METRICS_PORT',
      },
      { name: 'a resync under a second', env: { NIMBUS_RESYNC_MS: '999' }, key: 'NIMBUS_RESYNC_MS' },
      { name: 'run-as user 0 (root)', env: { NIMBUS_RUN_AS_USER: '0' }, key: 'NIMBUS_RUN_AS_USER' },
      { name: 'a negative drain', env: { NIMBUS_DRAIN_MS: '-1' }, key: 'NIMBUS_DRAIN_MS' },
      { name: 'an unknown log level', env: { NIMBUS_LOG_LEVEL: 'verbose' }, key: 'NIMBUS_LOG_LEVEL' },
    ];
    for (const c of cases) {
      it(c.name, () => {
        assert.throws(
          () => load(c.env),
          (err: unknown) => {
            assert.ok(err instanceof ConfigError, String(err));
            assert.equal(err.key, c.key);
            assert.match(err.message, new RegExp(`^${c.key}: `));
            return true;
          },
        );
      });
    }

    // BUG: readInt returns a default without checking it against the range, and the range of the
    // renew deadline and retry period hangs on the values before them. So a shorter lease given
    // alone (NIMBUS_LEASE_DURATION_MS=5000) keeps the default 10 s renew deadline: a leader may go on
    // acting for 10 s on a lease others may take after 5 s, and two controllers lead at once. Likewise a
    // renew deadline under 2 s keeps the default 2 s retry period, so the leader can never renew in time.
    // Either refuse the combination, naming a key, or derive the defaults from the values given.
    const combinations: { name: string; env: Env }[] = [
      {
        name: 'a lease duration under the default renew deadline',
        env: { NIMBUS_LEASE_DURATION_MS: '5000' },
      },
      {
        name: 'a renew deadline under the default retry period',
        env: { NIMBUS_LEASE_RENEW_DEADLINE_MS: '1000' },
      },
    ];
    for (const c of combinations) {
      it(`keeps retry < renew deadline < lease duration: ${c.name}`, () => {
        let config: ClusterConfig;
        try {
          config = load(c.env);
        } catch (err) {
          assert.ok(err instanceof ConfigError, String(err));
          return;
        }
        const lease = config.lease;
        assert.ok(lease !== undefined);
        assert.ok(lease.renewDeadlineMs < lease.leaseDurationMs, JSON.stringify(lease));
        assert.ok(lease.retryPeriodMs < lease.renewDeadlineMs, JSON.stringify(lease));
      });
    }
  });

  it('is frozen, down to its namespaces and lease', () => {
    const config = load({ NIMBUS_WATCH_NAMESPACES: 'team-a' });
    assert.equal(Object.isFrozen(config), true);
    assert.equal(Object.isFrozen(config.namespaces), true);
    assert.equal(Object.isFrozen(config.lease), true);
    assert.throws(() => {
      (config as { workers: number }).workers = 8;
    }, TypeError);
    assert.throws(() => {
      (config.namespaces as string[]).push('team-b');
    }, TypeError);
  });
});
