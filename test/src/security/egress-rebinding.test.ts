import assert from 'node:assert/strict';
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '@nimbus/api';
import { CallbackSender } from '@nimbus/gateway/async/callback-sender';
import { readEgressConfig } from '@nimbus/gateway/egress/egress-config';
import { EgressGuard, type ResolveHost } from '@nimbus/gateway/egress/egress-guard';
import { ManualClock, eventually } from '@nimbus/testkit';

/** A real HTTP server on loopback that counts every connection it is offered. */
class Listener {
  connections = 0;
  readonly requests: { url: string; headers: IncomingHttpHeaders }[] = [];
  port = 0;
  private readonly server: Server;

  constructor(answer: (res: import('node:http').ServerResponse) => void = (res) => res.end()) {
    this.server = createServer((req, res) => {
      this.requests.push({ url: req.url ?? '', headers: req.headers });
      req.resume();
      req.on('end', () => answer(res));
    });
    this.server.on('connection', () => this.connections++);
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** A DNS server under the attacker's control: each lookup gets the next answer (the last one repeats). */
function rebindingResolver(...answers: string[][]): ResolveHost & { calls: string[] } {
  const calls: string[] = [];
  const resolve = async (hostname: string) => {
    const answer = answers[Math.min(calls.length, answers.length - 1)] ?? [];
    calls.push(hostname);
    return answer.map((address) => ({ address }));
  };
  return Object.assign(resolve, { calls });
}

const result = (url: string) => ({
  url,
  callId: 'call-1',
  outcome: 'succeeded' as const,
  functionStatus: 200,
  durationMs: 12,
  contentType: 'application/json',
  body: new TextEncoder().encode('{"secret":"the function result"}'),
});

describe('security: a callback connects only to the address it checked (DNS rebinding, redirects)', () => {
  let clock: ManualClock;
  let warnings: Record<string, unknown>[];
  let sender: CallbackSender | undefined;
  const listeners: Listener[] = [];

  const listen = async (answer?: (res: import('node:http').ServerResponse) => void) => {
    const listener = await new Listener(answer).start();
    listeners.push(listener);
    return listener;
  };
  const start = (guard: EgressGuard) => {
    sender = new CallbackSender(
      { callbackAttempts: 3, callbackTimeoutMs: 2_000 },
      createLogger({}, 'warn', (line) => warnings.push(JSON.parse(line))),
      { clock, retryBaseMs: 500, egress: guard },
    );
    return sender;
  };
  const gaveUp = () => eventually(() => warnings[0], 5_000, 'the give-up warning');

  beforeEach(() => {
    clock = new ManualClock();
    warnings = [];
  });

  afterEach(async () => {
    await sender?.close();
    sender = undefined;
    await Promise.all(listeners.splice(0).map((l) => l.close()));
  });

  it('refuses a name that answered a public address at enqueue and loopback at connect time', async () => {
    const target = await listen();
    const resolve = rebindingResolver(['93.184.216.34'], ['127.0.0.1']);
    // The cluster default: public addresses only.
    const guard = new EgressGuard({
      config: readEgressConfig({}),
      platform: () => ({ endpoints: [], localPorts: new Set() }),
      resolve,
    });
    const url = `http://rebind.attacker.example:${target.port}/steal`;
    assert.equal(await guard.refusal(url), undefined, 'the first answer is public, so the call is accepted');

    start(guard).send(result(url));
    const warning = await gaveUp();
    assert.match(
      String(warning.error),
      new RegExp(
        `refused to connect: rebind\\.attacker\\.example: 127\\.0\\.0\\.1 port ${target.port} is a loopback address`,
      ),
    );
    assert.equal(target.connections, 0, 'the listening server saw no connection');
    assert.deepEqual(
      resolve.calls,
      ['rebind.attacker.example', 'rebind.attacker.example'],
      'one lookup per check',
    );
    assert.equal(clock.pending, 0, 'a refused callback waits for no retry');
  });

  it('refuses loopback at connect time by address or by a name the system resolves (cluster default)', async () => {
    const target = await listen();
    const guard = new EgressGuard({
      config: readEgressConfig({}),
      platform: () => ({ endpoints: [], localPorts: new Set() }),
    });
    const sending = start(guard);
    // As a message published straight to the queue would carry them: the front door never saw these.
    sending.send(result(`http://localhost:${target.port}/a`));
    sending.send(result(`http://0x7f000001:${target.port}/b`));
    await eventually(() => (warnings.length === 2 ? true : undefined), 5_000, 'two give-up warnings');
    for (const warning of warnings) assert.match(String(warning.error), /is a loopback address/);
    assert.equal(target.connections, 0);
  });

  it('refuses a name resolving to a port Nimbus listens on, even where loopback is allowed (local mode)', async () => {
    const replica = await listen();
    const guard = new EgressGuard({
      config: readEgressConfig({}, 'loopback'),
      platform: () => ({ endpoints: [], localPorts: new Set([replica.port]) }),
      resolve: rebindingResolver(['93.184.216.34'], ['::1', '127.0.0.1']),
    });
    const url = `http://innocent.example:${replica.port}/_/specialise`;
    assert.equal(await guard.refusal(url), undefined);
    start(guard).send(result(url));
    assert.match(String((await gaveUp()).error), /port \d+ is a port Nimbus itself listens on/);
    assert.equal(replica.connections, 0);
  });

  it('connects a name to the address it allowed, keeping the name in Host', async () => {
    const receiver = await listen();
    const resolve = rebindingResolver(['127.0.0.1']);
    const guard = new EgressGuard({
      config: readEgressConfig({ NIMBUS_EGRESS_ALLOW: 'hooks.dev.test' }),
      platform: () => ({ endpoints: [], localPorts: new Set() }),
      resolve,
    });
    start(guard).send(result(`http://hooks.dev.test:${receiver.port}/done?token=t`));
    await eventually(() => (receiver.requests.length === 1 ? true : undefined), 5_000, 'the callback');
    assert.equal(receiver.requests[0]?.url, '/done?token=t');
    assert.equal(receiver.requests[0]?.headers.host, `hooks.dev.test:${receiver.port}`);
    assert.deepEqual(warnings, []);
    assert.deepEqual(resolve.calls, ['hooks.dev.test']);
  });

  it('does not follow a redirect to a forbidden address', async () => {
    const platformPort = await listen();
    const receiver = await listen((res) => {
      res.writeHead(302, { location: `http://127.0.0.1:${platformPort.port}/_/specialise` });
      res.end();
    });
    const guard = new EgressGuard({
      config: readEgressConfig({}, 'loopback'),
      platform: () => ({ endpoints: [], localPorts: new Set([platformPort.port]) }),
    });
    start(guard).send(result(`http://127.0.0.1:${receiver.port}/hook`));
    assert.equal((await gaveUp()).error, 'the receiver answered 302');
    assert.equal(receiver.requests.length, 1);
    assert.equal(platformPort.connections, 0);
  });

  it('refuses a forged call message whose URL never passed the front door, without connecting', async () => {
    const target = await listen();
    const guard = new EgressGuard({
      config: readEgressConfig({}, 'loopback'),
      platform: () => ({ endpoints: [], localPorts: new Set() }),
    });
    start(guard).send(result(`http://attacker.example@127.0.0.1:${target.port}/`));
    assert.match(String((await gaveUp()).error), /credentials/);
    assert.equal(target.connections, 0);
  });
});
