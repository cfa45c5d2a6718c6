import assert from 'node:assert/strict';
import { ManualClock, eventually } from '@nimbus/testkit';
import { mqttSource } from '../src/mqtt/index.js';
import { MQTT_IN_FLIGHT } from '../src/mqtt/reader.js';
import { type HostileBroker, startHostileBroker } from './support/hostile-broker.js';
import { RecordingSink, mqttTrigger, readerContext } from './support/mqtt-fixtures.js';

describe('mqtt source: a broker that does not keep the rules', () => {
  let broker: HostileBroker | undefined;
  afterEach(async () => {
    await broker?.close();
  });

  it('past the receive maximum, the reader stops reading until stores catch up: bounded, and nothing lost', async () => {
    const flood = MQTT_IN_FLIGHT * 3;
    broker = await startHostileBroker(flood);
    const sink = new RecordingSink();
    const held: (() => void)[] = [];
    // Nothing is stored while the flood comes, so nothing is acknowledged.
    sink.storeWith = () =>
      new Promise<void>((resolve) => {
        held.push(resolve);
      });
    const reader = mqttSource.reader?.(
      readerContext(mqttTrigger({ topics: ['h/#'] }), broker.url, sink, new ManualClock(0)),
    );
    assert.ok(reader);
    reader.start();
    await eventually(
      () => (sink.attempts.length >= MQTT_IN_FLIGHT ? true : undefined),
      10_000,
      'a full window',
    );
    // Another message is read only once a store finished: poll for one, and see none come.
    await assert.rejects(
      eventually(
        () => (sink.attempts.length > MQTT_IN_FLIGHT ? true : undefined),
        500,
        'a message past the window',
      ),
    );
    assert.equal(broker.pubacks, 0);
    assert.equal(sink.last?.connected, true);
    sink.storeWith = async () => {};
    for (const release of held) release();
    await eventually(
      () => (broker?.pubacks === flood ? true : undefined),
      10_000,
      'every message acknowledged',
    );
    assert.equal(sink.events.length, flood);
    await reader.stop();
  });
});
