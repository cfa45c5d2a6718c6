import { systemClock } from '@nimbus/api';
import { mqttSource } from '../../src/mqtt/index.js';
import { RecordingSink, mqttTrigger, readerContext } from './mqtt-fixtures.js';

/**
 * A reader in a process of its own, for the test that kills it: `node mqtt-reader-child.js <url>
 * <filter>`. Its sink never finishes a store, so nothing it receives may be acknowledged; it says
 * `connected` once subscribed and `storing <id> <payload>` for each message, on stdout.
 */
const [url, filter] = process.argv.slice(2);
if (url === undefined || filter === undefined) throw new Error('usage: mqtt-reader-child <url> <filter>');
const sink = new RecordingSink();
sink.storeWith = (event) => {
  process.stdout.write(`storing ${event.id} ${Buffer.from(event.data).toString('utf8')}\n`);
  return new Promise<void>(() => {});
};
const report = sink.report.bind(sink);
sink.report = (health) => {
  report(health);
  if (health.connected) process.stdout.write('connected\n');
};
mqttSource.reader?.(readerContext(mqttTrigger({ topics: [filter] }), url, sink, systemClock))?.start();
