import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { EVENTS_STREAM, type JetStreamBus, triggerConsumerName } from '@nimbus/bus';
import { eventually, send } from '@nimbus/testkit';
import { admin } from '../harness/async-calls.js';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { LocalModeProcess } from '../harness/local-mode-process.js';
import { type SecuredNats, TEST_ADMIN, startSecuredNats } from '../harness/nats.js';

/** Keeps every CloudEvent it gets (all its attributes); GET lists them. Answers `{ from: <name> }`. */
const recorder = (name: string) => `const seen = [];
export default async (event) => {
  if (event.method === 'GET') return { seen };
  seen.push(event.cloudEvent ?? { plain: event.body });
  return { from: '${name}', n: seen.length };
};`;

/** Publishes POST bodies: ?subject=, and answers the event id or the error it caught. */
const EMITTER = `export default async (event, ctx) => {
  try {
    return { id: await ctx.publish(event.query.subject, event.body, event.query.type ? { type: event.query.type } : undefined) };
  } catch (e) {
    return { error: { name: e.name, status: e.status, code: e.code, message: e.message } };
  }
};`;

/** Always fails: its async calls end in the dead letters. */
const FLAKY = `export default async () => ({ statusCode: 500, body: 'the disk is full' });`;

/** Counts its runs; GET answers the count. */
const COUNTER = `let runs = 0;
export default async (event) => (event.method === 'GET' ? { runs } : { runs: ++runs });`;

type CloudEvent = Record<string, unknown> & { id: string; type: string; source: string; data: unknown };

const one = 'scale:\n  min: 1\n  max: 1';
const on = (subject: string) => `triggers:\n  - nats:\n      subject: ${subject}\n      backoff: [100ms]`;
const FIXTURES = {
  'emitter.yaml': inlineFunction('emitter', EMITTER, one),
  'thumbs.yaml': inlineFunction('thumbs', recorder('thumbs'), `${one}\n${on('uploads.new')}`),
  'search.yaml': inlineFunction('search', recorder('search'), `${one}\n${on('uploads.new')}`),
  // upload -> resize -> index: three Functions, no glue.
  'upload.yaml': inlineFunction(
    'upload',
    recorder('upload'),
    `${one}\n${on('files.uploaded')}\ndestinations:\n  onSuccess: { function: resize }`,
  ),
  'resize.yaml': inlineFunction(
    'resize',
    recorder('resize'),
    `${one}\ndestinations:\n  onSuccess: { subject: files.resized }`,
  ),
  'index.yaml': inlineFunction('index', recorder('index'), `${one}\n${on('files.resized')}`),
  'flaky.yaml': inlineFunction(
    'flaky',
    FLAKY,
    `${one}\nasync:\n  maxAttempts: 2\n  backoff: { initial: 50ms, max: 50ms }\ndestinations:\n  onFailure: { function: alerts }`,
  ),
  'alerts.yaml': inlineFunction('alerts', recorder('alerts'), one),
  // A trigger event that runs out of deliveries: its failure goes on as an event to a subject.
  'picky.yaml': inlineFunction(
    'picky',
    FLAKY,
    `${one}\ntriggers:\n  - nats:\n      subject: jobs.new\n      maxDeliver: 2\n      backoff: [50ms]\ndestinations:\n  onFailure: { subject: jobs.failed }`,
  ),
  'failures.yaml': inlineFunction('failures', recorder('failures'), `${one}\n${on('jobs.failed')}`),
  'ping.yaml': inlineFunction('ping', COUNTER, `${one}\ndestinations:\n  onSuccess: { function: pong }`),
  'pong.yaml': inlineFunction('pong', COUNTER, `${one}\ndestinations:\n  onSuccess: { function: ping }`),
};

/**
 * Events from functions end to end, in local mode on a NATS with the chart's users: ctx.publish
 * (through the supervisor, published as the NATS publisher user) fans out to every function with
 * a trigger on the subject; destinations chain three functions into a pipeline, send a dead
 * letter's failure on, and stop a loop at its bound.
 */
describe('events from functions: ctx.publish and destinations (local mode, NATS with users)', function () {
  this.timeout(120_000);
  let nats: SecuredNats;
  let bus: JetStreamBus;
  let dir: string;
  let platform: LocalModeProcess;

  before(async () => {
    nats = await startSecuredNats();
    dir = await functionsFolder(FIXTURES);
    platform = await LocalModeProcess.start(dir, {
      ...nats.env('local'),
      NIMBUS_NATS_EVENTS_USER: 'publisher',
      NIMBUS_NATS_EVENTS_PASSWORD: nats.passwords.publisher,
      NIMBUS_WARM_POOL_SIZE: '0',
    });
    bus = await nats.connect(TEST_ADMIN);
    // Local mode makes the events stream and the durables; an event before them is not delivered.
    for (const [fn, subject] of [
      ['thumbs', 'uploads.new'],
      ['search', 'uploads.new'],
      ['upload', 'files.uploaded'],
      ['index', 'files.resized'],
      ['picky', 'jobs.new'],
      ['failures', 'jobs.failed'],
    ] as const)
      await eventually(
        async () =>
          (await bus.consumerInfo(EVENTS_STREAM, triggerConsumerName('default', fn, subject))) ?? undefined,
        30_000,
        `the durable of ${fn}`,
      );
  });

  after(async function () {
    this.timeout(30_000);
    await bus?.close();
    await platform?.stop();
    await nats?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const emit = async (subject: string, body: unknown, type?: string) => {
    const query = `subject=${encodeURIComponent(subject)}${type === undefined ? '' : `&type=${type}`}`;
    const reply = await send(platform.url, `/function/emitter?${query}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(reply.status, 200, reply.text);
    return reply.json<{ id?: string; error?: { name: string; status: number; message: string } }>();
  };
  const seenBy = async (fn: string): Promise<CloudEvent[]> =>
    (await send(platform.url, `/function/${fn}`)).json<{ seen: CloudEvent[] }>().seen;
  const waitFor = (fn: string, count: number) =>
    eventually(
      async () => ((await seenBy(fn)).length >= count ? seenBy(fn) : undefined),
      30_000,
      `${count} at ${fn}`,
    );

  it('ctx.publish reaches every function with a trigger on the subject, as the publisher', async () => {
    const published = await emit('uploads.new', { file: 'cat.png' }, 'upload.created');
    assert.match(String(published.id), /^[0-9a-f-]{36}$/, JSON.stringify(published));
    for (const fn of ['thumbs', 'search']) {
      const [event] = await waitFor(fn, 1);
      assert.equal(event?.id, published.id, fn);
      assert.equal(event?.source, 'nimbus://default/emitter');
      assert.equal(event?.type, 'upload.created');
      assert.deepEqual(event?.data, { file: 'cat.png' });
    }
  });

  it('answers a subject nobody listens on with an id, and a reserved one with the refusal', async () => {
    assert.match(String((await emit('nobody.listens', 1)).id), /^[0-9a-f-]{36}$/);
    const refused = await emit('nimbus.calls.default.flaky', { forged: true });
    assert.deepEqual([refused.error?.name, refused.error?.status], ['PublishRefusedError', 403]);
    assert.equal(
      (await bus.streamState('NIMBUS_CALLS'))?.bySubject.get('nimbus.calls.default.flaky') ?? 0,
      0,
    );
  });

  it('runs a pipeline of three functions: a trigger, onSuccess to a function, onSuccess to a subject', async () => {
    const published = await emit('files.uploaded', { file: 'dog.png' });
    const [indexed] = await waitFor('index', 1);
    const [resized] = await seenBy('resize');
    // upload got the published event; its success became an async call to resize ...
    assert.equal(resized?.type, 'dev.nimbus.function.succeeded');
    assert.equal(resized?.source, 'nimbus://default/upload');
    assert.equal(resized?.causationid, published.id);
    assert.equal(resized?.nimbushops, '1');
    assert.deepEqual((resized?.data as { body: unknown }).body, { from: 'upload', n: 1 });
    // ... and resize's success an event on files.resized, which index's trigger took.
    assert.equal(indexed?.type, 'dev.nimbus.function.succeeded');
    assert.equal(indexed?.source, 'nimbus://default/resize');
    assert.equal(indexed?.causationid, resized?.id);
    assert.equal(indexed?.nimbushops, '2');
    assert.deepEqual(indexed?.data, {
      function: 'default/resize',
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: { from: 'resize', n: 1 },
    });
  });

  it('sends an async call that ran out of attempts to its onFailure function, once dead-lettered', async () => {
    const accepted = await send(platform.url, '/async-function/flaky', { method: 'POST', body: 'x' });
    assert.equal(accepted.status, 202, accepted.text);
    const callId = accepted.headers['x-call-id'];
    const [alert] = await waitFor('alerts', 1);
    assert.equal(alert?.type, 'dev.nimbus.function.failed');
    assert.equal(alert?.source, 'nimbus://default/flaky');
    assert.equal(alert?.causationid, callId);
    const data = alert?.data as { attempts: number; lastError: string; function: string };
    assert.deepEqual([data.function, data.attempts], ['default/flaky', 2]);
    assert.match(data.lastError, /500/);
    const dead = await send(platform.url, '/system/dead-letters', { headers: admin });
    assert.match(dead.text, new RegExp(String(callId)));
  });

  it('publishes a trigger event that was dead-lettered to its onFailure subject, for the triggers there', async () => {
    const published = await emit('jobs.new', { job: 7 });
    const [failure] = await waitFor('failures', 1);
    assert.equal(failure?.type, 'dev.nimbus.function.failed');
    assert.equal(failure?.source, 'nimbus://default/picky');
    assert.equal(failure?.causationid, published.id);
    const data = failure?.data as { attempts: number; lastError: string };
    assert.equal(data.attempts, 2);
    assert.match(data.lastError, /500/);
  });

  it('ends a loop of destinations (ping -> pong -> ping ...) at 8 hops, counted and logged', async () => {
    const accepted = await send(platform.url, '/async-function/ping', { method: 'POST', body: '{}' });
    assert.equal(accepted.status, 202, accepted.text);
    await platform.waitForLog(
      (l) => String(l.msg).startsWith('a chain of destinations reached its bound'),
      60_000,
    );
    const runs = async (fn: string) =>
      (await send(platform.url, `/function/${fn}`)).json<{ runs: number }>().runs;
    // Hops 0, 2, 4, 6, 8 ran ping; 1, 3, 5, 7 ran pong; ping's outcome at hop 8 went nowhere.
    assert.deepEqual([await runs('ping'), await runs('pong')], [5, 4]);
    const metrics = await send(platform.url, '/metrics', { headers: admin });
    assert.match(metrics.text, /nimbus_destination_events_total\{outcome="succeeded",result="loop"\} 1/);
  });
});
