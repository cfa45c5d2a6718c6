import assert from 'node:assert/strict';
import { type NatsServer, startNatsServer } from '@nimbus/testkit';
import { BusConfigError, BusPayloadTooLargeError, JetStreamBus, type MessageBus } from '../src/index.js';
import { describeAckLaterContract } from './support/ack-later-contract.js';
import { type BusFixture, describeMessageBusContract } from './support/message-bus-contract.js';

describe('JetStreamBus', function () {
  this.timeout(60_000);
  let server: NatsServer;

  before(async () => {
    server = await startNatsServer();
  });

  after(async () => {
    await server?.stop();
  });

  const jetStreamBus = async (): Promise<BusFixture> => {
    const connect = () =>
      JetStreamBus.connect({
        servers: server.url,
        name: 'bus-test',
        reconnectMinMs: 50,
        reconnectMaxMs: 250,
      });
    const buses: MessageBus[] = [await connect()];
    const [bus] = buses as [MessageBus];
    return {
      bus,
      async peer() {
        const peer = await connect();
        buses.push(peer);
        return peer;
      },
      server,
      async close() {
        await Promise.all(buses.map((b) => b.close()));
        // A test may leave the server paused; the next one needs it.
        await server.resume();
      },
    };
  };
  describeMessageBusContract('JetStream', jetStreamBus, { serverControl: true });
  describeAckLaterContract('JetStream', jetStreamBus, { serverControl: true });

  it("a message over the server's max_payload is refused for good, as too large", async () => {
    const bus = await JetStreamBus.connect({ servers: server.url, name: 'bus-test-large' });
    try {
      await assert.rejects(
        bus.publish('nimbus.sources.default.f.t', new Uint8Array(1024 * 1024 + 1)),
        (err: Error) =>
          err instanceof BusPayloadTooLargeError &&
          err instanceof BusConfigError &&
          /larger than the server's max_payload/.test(err.message),
      );
    } finally {
      await bus.close();
    }
  });
});
