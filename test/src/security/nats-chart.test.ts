import assert from 'node:assert/strict';
import { readNatsCredentials } from '@nimbus/bus';
import { parseAllDocuments } from 'yaml';
import { helm } from '../harness/helm.js';
import { CHART_DIR, REPO_ROOT } from '../harness/install-bundle.js';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
}
interface Container {
  name: string;
  command?: string[];
  env?: EnvVar[];
}
interface Manifest {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: { template?: { spec: { containers: Container[] } }; ingress?: { from?: unknown[] }[] };
}

async function render(args: string[] = []): Promise<{ code: number; objects: Manifest[]; stderr: string }> {
  const rendered = await helm(['template', 'nimbus', CHART_DIR, '--namespace', 'nimbus', ...args], {
    cwd: REPO_ROOT,
  });
  if (rendered.code !== 0) return { code: rendered.code, objects: [], stderr: rendered.stderr };
  const objects = parseAllDocuments(rendered.stdout)
    .map((doc) => doc.toJS() as Manifest | null)
    .filter((o): o is Manifest => o !== null);
  return { code: 0, objects, stderr: '' };
}

function container(objects: Manifest[], kind: string, name: string): Container {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  const first = found?.spec?.template?.spec.containers[0];
  assert.ok(first, `${kind} ${name} has no container`);
  return first;
}

const envNamed = (c: Container, name: string) => c.env?.find((e) => e.name === name);

/** The NATS login a component's env gives it, Secret references shown as `<secret>/<key>`. */
function natsLogin(c: Container): { user?: string; password?: string } {
  const password = envNamed(c, 'NIMBUS_NATS_PASSWORD')?.valueFrom?.secretKeyRef;
  return {
    user: envNamed(c, 'NIMBUS_NATS_USER')?.value,
    password: password === undefined ? undefined : `${password.name}/${password.key}`,
  };
}

describe('attack: the chart’s NATS lets no one in without a component’s password', function () {
  this.timeout(60_000);

  it('by default: a generated Secret, the server started with the users, each component logged in as its own', async () => {
    const { objects } = await render();
    const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === 'nimbus-nats-auth');
    assert.deepEqual(Object.keys(secret?.data ?? {}).sort(), [
      'controller-password',
      'gateway-password',
      'publisher-password',
    ]);
    for (const value of Object.values(secret?.data ?? {})) {
      const password = Buffer.from(value, 'base64').toString('utf8');
      assert.match(password, /^[A-Za-z][A-Za-z0-9]{47}$/, 'a bare value the server config reads as a string');
    }
    assert.deepEqual(natsLogin(container(objects, 'Deployment', 'nimbus-gateway')), {
      user: 'nimbus-gateway',
      password: 'nimbus-nats-auth/gateway-password',
    });
    assert.deepEqual(natsLogin(container(objects, 'Deployment', 'nimbus-controller')), {
      user: 'nimbus-controller',
      password: 'nimbus-nats-auth/controller-password',
    });
    const nats = container(objects, 'StatefulSet', 'nimbus-nats');
    assert.deepEqual(nats.command?.slice(0, 3), ['nats-server', '--config', '/etc/nats/authorization.conf']);
    for (const role of ['gateway', 'controller', 'publisher'])
      assert.deepEqual(envNamed(nats, `NATS_${role.toUpperCase()}_PASSWORD`)?.valueFrom?.secretKeyRef, {
        name: 'nimbus-nats-auth',
        key: `${role}-password`,
      });
    const conf = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'nimbus-nats-config')
      ?.data?.['authorization.conf'];
    assert.ok(conf?.includes('authorization {'));
    assert.doesNotMatch(conf ?? '', /no_auth_user/);
    // The component's env parses as a login (the kubelet fills the password in).
    assert.deepEqual(
      readNatsCredentials({
        NIMBUS_NATS_URL: envNamed(container(objects, 'Deployment', 'nimbus-gateway'), 'NIMBUS_NATS_URL')
          ?.value,
        NIMBUS_NATS_USER: 'nimbus-gateway',
        NIMBUS_NATS_PASSWORD: 'nsecret',
      }),
      { user: 'nimbus-gateway', pass: 'nsecret' },
    );
  });

  it('takes the passwords from nats.auth.existingSecret, or the API keys Secret, and then generates none', async () => {
    const own = await render(['--set', 'nats.auth.existingSecret=my-nats']);
    assert.ok(!own.objects.some((o) => o.kind === 'Secret' && o.metadata.name === 'nimbus-nats-auth'));
    assert.equal(
      natsLogin(container(own.objects, 'Deployment', 'nimbus-gateway')).password,
      'my-nats/gateway-password',
    );
    const keys = await render(['--set', 'gateway.apiKeys.existingSecret=my-keys']);
    assert.ok(!keys.objects.some((o) => o.kind === 'Secret' && o.metadata.name === 'nimbus-nats-auth'));
    assert.equal(
      natsLogin(container(keys.objects, 'Deployment', 'nimbus-controller')).password,
      'my-keys/nats-controller-password',
    );
    assert.deepEqual(
      envNamed(container(keys.objects, 'StatefulSet', 'nimbus-nats'), 'NATS_PUBLISHER_PASSWORD')?.valueFrom
        ?.secretKeyRef,
      { name: 'my-keys', key: 'nats-publisher-password' },
    );
  });

  it('narrows the publisher’s subjects, and Nimbus’s own stay denied', async () => {
    const { objects } = await render(['--set-json', 'nats.auth.publisherSubjects=["orders.>"]']);
    const conf = objects.find((o) => o.kind === 'ConfigMap')?.data?.['authorization.conf'] ?? '';
    assert.match(conf, /"nimbus-publisher".*"allow":\["orders\.>"\],"deny":\["nimbus\.>"/);
  });

  it('lets only the gateway, the controller and the peers of nats.publisherFrom reach NATS', async () => {
    const peersOf = (objects: Manifest[]) => {
      const policy = objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'nimbus-nats');
      assert.equal(policy?.spec?.ingress?.length, 1, 'one ingress rule, on the client port');
      return policy?.spec?.ingress?.[0]?.from ?? [];
    };
    const platform = ['gateway', 'controller'].map((component) => ({
      podSelector: {
        matchLabels: {
          'app.kubernetes.io/name': 'nimbus',
          'app.kubernetes.io/instance': 'nimbus',
          'app.kubernetes.io/component': component,
        },
      },
    }));
    // By default no one else: an app holding the publisher password still cannot connect.
    assert.deepEqual(peersOf((await render()).objects), platform);
    const publishers = [
      {
        namespaceSelector: { matchLabels: { team: 'orders' } },
        podSelector: { matchLabels: { app: 'publisher' } },
      },
      { ipBlock: { cidr: '10.20.0.0/16' } },
    ];
    const opened = await render(['--set-json', `nats.publisherFrom=${JSON.stringify(publishers)}`]);
    assert.deepEqual(peersOf(opened.objects), [...platform, ...publishers]);
    // Peers Kubernetes would refuse, or that would open NATS to everyone, are refused by the schema.
    for (const bad of [[{}], [{ podSelecter: {} }], [{ podSelector: {}, ipBlock: { cidr: '10.0.0.0/8' } }]]) {
      const refused = await render(['--set-json', `nats.publisherFrom=${JSON.stringify(bad)}`]);
      assert.notEqual(refused.code, 0, JSON.stringify(bad));
      assert.match(refused.stderr, /nats\.publisherFrom\.0/);
    }
  });

  it('logs in to an external NATS only with a Secret, and refuses credentials in its URL', async () => {
    const external = ['--set', 'nats.externalUrl=nats://nats.example:4222'];
    const anonymous = await render(external);
    assert.deepEqual(natsLogin(container(anonymous.objects, 'Deployment', 'nimbus-gateway')), {
      user: undefined,
      password: undefined,
    });
    assert.ok(!anonymous.objects.some((o) => o.metadata.name.startsWith('nimbus-nats')), 'no bundled server');
    const withSecret = await render([...external, '--set', 'nats.auth.existingSecret=ext-nats']);
    assert.deepEqual(natsLogin(container(withSecret.objects, 'Deployment', 'nimbus-gateway')), {
      user: 'nimbus-gateway',
      password: 'ext-nats/gateway-password',
    });
    const inUrl = await render(['--set', 'nats.externalUrl=nats://gw:secret@nats.example:4222']);
    assert.notEqual(inUrl.code, 0, 'a URL with credentials is refused');
    assert.match(inUrl.stderr, /externalUrl/);
  });
});
