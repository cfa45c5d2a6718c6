import assert from 'node:assert/strict';
import { type NatsServer, startNatsServer } from '@nimbus/testkit';
import { type NatsConnection, RetentionPolicy, StorageType, connect } from 'nats';
import { BusConfigError, BusError, BusUnavailableError, JetStreamBus } from '../src/index.js';

/**
 * The bus publishes with its own acknowledgement inbox (publish-acks.ts), not nats.js's requests:
 * each way JetStream or the server can answer a publish must still come out as the bus error it
 * was before, on a real nats-server.
 */
describe('JetStreamBus publish acknowledgements', function () {
  this.timeout(60_000);
  let server: NatsServer;
  let raw: NatsConnection;
  const buses: JetStreamBus[] = [];

  before(async () => {
    server = await startNatsServer({
      users: [
        { user: 'admin', password: 'admin-pw' },
        {
          user: 'narrow',
          password: 'narrow-pw',
          permissions: {
            publish: { allow: ['acks.allowed.>', '$JS.API.>'] },
            subscribe: { allow: ['_INBOX.>'] },
          },
        },
      ],
    });
    raw = await connect({ servers: server.url, user: 'admin', pass: 'admin-pw' });
    const jsm = await raw.jetstreamManager();
    await jsm.streams.add({
      name: 'ACKS',
      subjects: ['acks.>'],
      storage: StorageType.Memory,
      retention: RetentionPolicy.Limits,
      max_msg_size: 64,
    });
  });

  after(async () => {
    await Promise.all(buses.map((bus) => bus.close()));
    await raw?.close();
    await server?.stop();
  });

  const bus = async (user: string, password: string, timeoutMs = 2_000) => {
    const made = await JetStreamBus.connect({ servers: server.url, user, pass: password, timeoutMs });
    buses.push(made);
    return made;
  };

  it('resolves with the stream and sequence, and says a repeated message id is a duplicate', async () => {
    const admin = await bus('admin', 'admin-pw');
    const first = await admin.publish('acks.allowed.one', new TextEncoder().encode('a'), { msgId: 'm-1' });
    const again = await admin.publish('acks.allowed.one', new TextEncoder().encode('a'), { msgId: 'm-1' });
    const next = await admin.publish('acks.allowed.one', new TextEncoder().encode('b'));
    assert.equal(first.stream, 'ACKS');
    assert.equal(first.duplicate, false);
    assert.deepEqual(again, { stream: 'ACKS', seq: first.seq, duplicate: true });
    assert.equal(next.seq, first.seq + 1);
  });

  it("a JetStream refusal is a BusConfigError with the server's reason", async () => {
    const admin = await bus('admin', 'admin-pw');
    await assert.rejects(admin.publish('acks.allowed.big', new Uint8Array(65)), (err: Error) => {
      assert.ok(err instanceof BusConfigError, String(err));
      assert.match(err.message, /publish to acks\.allowed\.big: message size exceeds maximum allowed/);
      return true;
    });
  });

  it('a publish the user may not make is refused as such, not left to time out', async () => {
    const narrow = await bus('narrow', 'narrow-pw', 10_000);
    const started = Date.now();
    await assert.rejects(narrow.publish('acks.denied.x', new Uint8Array(1)), (err: Error) => {
      assert.ok(err instanceof BusConfigError, String(err));
      assert.match(err.message, /NATS denied it to this user/);
      return true;
    });
    assert.ok(Date.now() - started < 5_000, 'the refusal came before the 10 s timeout');
    // The connection goes on: an allowed publish still lands.
    assert.equal((await narrow.publish('acks.allowed.after', new Uint8Array(1))).stream, 'ACKS');
  });

  it('no stream on the subject is a no-stream BusUnavailableError', async () => {
    const admin = await bus('admin', 'admin-pw');
    await assert.rejects(admin.publish('nostream.x', new Uint8Array(1)), (err: Error) => {
      assert.ok(err instanceof BusUnavailableError, String(err));
      assert.equal(err.reason, 'no-stream');
      return true;
    });
  });

  it('an answer that is not an acknowledgement fails the publish; silence times out', async () => {
    const impostor = raw.subscribe('plain.answer', {
      callback: (_err, msg) => msg.respond(new TextEncoder().encode('hi')),
    });
    const silent = raw.subscribe('plain.silent');
    await raw.flush();
    const admin = await bus('admin', 'admin-pw', 300);
    try {
      await assert.rejects(admin.publish('plain.answer', new Uint8Array(1)), (err: Error) => {
        assert.ok(err instanceof BusError && !(err instanceof BusUnavailableError), String(err));
        return true;
      });
      await assert.rejects(admin.publish('plain.silent', new Uint8Array(1)), (err: Error) => {
        assert.ok(err instanceof BusUnavailableError, String(err));
        assert.equal(err.reason, 'timeout');
        return true;
      });
    } finally {
      impostor.unsubscribe();
      silent.unsubscribe();
    }
  });
});
