import assert from 'node:assert/strict';
import { type FunctionResource, createLogger, validateFunction } from '@nimbus/api';
import {
  type BusMessage,
  CALLS_STREAM,
  EVENTS_STREAM,
  MemoryBus,
  callsStreamConfig,
  eventsStreamConfig,
} from '@nimbus/bus';
import { createMemoryStores } from '@nimbus/store';
import { eventually } from '@nimbus/testkit';
import { Registry } from 'prom-client';
import { decodeCall } from '../src/async/call-message.js';
import { Destinations } from '../src/destinations/destinations.js';
import { type Ending, derivedId, outcomeEvent } from '../src/destinations/outcome-event.js';
import { openSeal } from '../src/events/event-seal.js';
import { readEventsConfig } from '../src/events/events-config.js';
import { FunctionEvents } from '../src/events/function-events.js';
import { isCallId } from '../src/http/headers.js';

const quiet = createLogger({}, 'error', () => {});
const config = readEventsConfig({ NIMBUS_STATE_KEY: 'k'.repeat(40) });

function fn(name: string, destinations: unknown): FunctionResource {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name, namespace: 'media' },
    spec: { source: { inline: 'export default () => 1' }, destinations },
  });
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}

const succeeded = (id: string, hops: number, body: string, contentType: string): Ending => ({
  namespace: 'media',
  function: 'resize',
  id,
  hops,
  outcome: {
    kind: 'succeeded',
    status: 200,
    headers: { 'Content-Type': contentType, 'set-cookie': 'secret=1' },
    body: Buffer.from(body),
    size: Buffer.byteLength(body),
  },
});

describe('destinations: the outcome as a CloudEvent (pure)', () => {
  it('carries the answer: JSON as JSON, only the headers that say how to read it', () => {
    const event = outcomeEvent(succeeded('e1', 0, '{"w":64}', 'application/json'), 1024);
    assert.equal(event.type, 'dev.nimbus.function.succeeded');
    assert.deepEqual(JSON.parse(event.data.toString()), {
      function: 'media/resize',
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: { w: 64 },
    });
  });

  it('keeps text as text, bytes as base64, and says when it cut the body', () => {
    const text = JSON.parse(outcomeEvent(succeeded('e', 0, 'hello', 'text/plain'), 1024).data.toString());
    assert.equal(text.body, 'hello');
    const bytes = outcomeEvent(succeeded('e', 0, '\u00ff\u0000', 'application/octet-stream'), 1024);
    assert.equal(JSON.parse(bytes.data.toString()).bodyEncoding, 'base64');
    const cut = JSON.parse(
      outcomeEvent(succeeded('e', 0, 'x'.repeat(100), 'text/plain'), 10).data.toString(),
    );
    assert.equal(cut.body, 'x'.repeat(10));
    assert.equal(cut.truncated, true);
    assert.equal(cut.size, 100);
  });

  it('carries a failure as its last error and attempts', () => {
    const event = outcomeEvent(
      {
        namespace: 'media',
        function: 'resize',
        id: 'e2',
        hops: 0,
        outcome: { kind: 'failed', lastError: 'attempt 3: 500', attempts: 3 },
      },
      1024,
    );
    assert.equal(event.type, 'dev.nimbus.function.failed');
    assert.deepEqual(JSON.parse(event.data.toString()), {
      function: 'media/resize',
      lastError: 'attempt 3: 500',
      attempts: 3,
    });
  });

  it('derives its id from the original and the outcome: the same on every try, a valid call id', () => {
    assert.equal(derivedId('e1', 'succeeded'), derivedId('e1', 'succeeded'));
    assert.notEqual(derivedId('e1', 'succeeded'), derivedId('e1', 'failed'));
    assert.notEqual(derivedId('e1', 'succeeded'), derivedId('e2', 'succeeded'));
    assert.ok(isCallId(derivedId('e1', 'succeeded')));
  });
});

describe('destinations: sending outcomes', () => {
  let bus: MemoryBus;
  let registry: Registry;
  let destinations: Destinations;
  const seen: BusMessage[] = [];
  const stores = createMemoryStores();
  const functions = [
    fn('resize', { onSuccess: { subject: 'images.resized' }, onFailure: { function: 'alert' } }),
    fn('plain', undefined),
  ];

  beforeEach(async () => {
    seen.length = 0;
    bus = new MemoryBus();
    await bus.ensureStream(callsStreamConfig());
    await bus.ensureStream(
      eventsStreamConfig(['images.>']) as NonNullable<ReturnType<typeof eventsStreamConfig>>,
    );
    for (const [stream, filter] of [
      [EVENTS_STREAM, 'images.>'],
      [CALLS_STREAM, 'nimbus.calls.>'],
    ] as const) {
      await bus.ensureConsumer({ stream, name: `probe-${stream.toLowerCase()}`, filterSubject: filter });
      bus.consume(stream, `probe-${stream.toLowerCase()}`, async (m) => {
        seen.push(m);
        await m.ack();
      });
    }
    registry = new Registry();
    destinations = new Destinations({
      config,
      directory: { list: () => functions, get: (_, name) => functions.find((f) => f.metadata.name === name) },
      events: new FunctionEvents(config, () => bus),
      calls: stores.calls,
      queue: bus,
      log: quiet,
      registry,
      now: Date.now,
    });
  });
  afterEach(() => bus.close());

  const counted = async (result: string) =>
    (await registry.getSingleMetric('nimbus_destination_events_total')?.get())?.values.find(
      (v) => v.labels.result === result,
    )?.value ?? 0;

  it('publishes a success on the subject, once however often the finish runs, one hop further', async () => {
    const ending = succeeded('event-7', 2, '{"ok":true}', 'application/json');
    await destinations.ended(ending);
    await destinations.ended(ending);
    const message = await eventually(() => seen[0], 5_000, 'the outcome event');
    assert.equal(message.subject, 'images.resized');
    assert.equal(message.id, derivedId('event-7', 'succeeded'));
    assert.deepEqual(openSeal(config.sealKey, message), {
      'ce-source': 'nimbus://media/resize',
      'ce-type': 'dev.nimbus.function.succeeded',
      'ce-causationid': 'event-7',
      'ce-nimbushops': '3',
    });
    assert.equal((await bus.streamState(EVENTS_STREAM))?.messages ?? 0, 0, 'acked, and no second copy came');
    assert.equal(seen.length, 1);
    assert.equal(await counted('sent'), 2);
  });

  it('queues a failure as an async call to the function, with a record of its own', async () => {
    const ending: Ending = {
      namespace: 'media',
      function: 'resize',
      id: 'call-9',
      hops: 0,
      outcome: { kind: 'failed', lastError: 'attempt 3: the function answered 500', attempts: 3 },
    };
    await destinations.ended(ending);
    await destinations.ended(ending);
    const message = await eventually(() => seen[0], 5_000, 'the outcome call');
    const call = decodeCall(message);
    assert.ok(!('invalid' in call), JSON.stringify(call));
    assert.equal(call.function, 'alert');
    assert.equal(call.id, derivedId('call-9', 'failed'));
    assert.equal(call.headers['ce-type'], 'dev.nimbus.function.failed');
    assert.equal(call.headers['ce-causationid'], 'call-9');
    assert.equal(call.headers['ce-nimbushops'], '1');
    assert.equal(JSON.parse(Buffer.from(call.body).toString()).attempts, 3);
    assert.equal((await stores.calls.get(call.id))?.function, 'alert');
    assert.equal(seen.length, 1, 'the second finish stored nothing new');
  });

  it('stops a chain at the bound: nothing sent, counted as a loop', async () => {
    await destinations.ended(succeeded('event-8', config.maxHops, '1', 'application/json'));
    await destinations.ended(succeeded('event-9', config.maxHops - 1, '1', 'application/json'));
    await eventually(() => seen[0], 5_000, 'the outcome one hop under the bound');
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.id, derivedId('event-9', 'succeeded'));
    assert.equal(await counted('loop'), 1);
  });

  it('sends nothing for a function without destinations', async () => {
    await destinations.ended({ ...succeeded('event-10', 0, '1', 'application/json'), function: 'plain' });
    assert.equal(await counted('sent'), 0);
    assert.equal(seen.length, 0);
  });
});
