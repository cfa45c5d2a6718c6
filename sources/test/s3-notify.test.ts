import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { type Server, createServer } from 'node:http';
import type { ResolvedSource } from '@nimbus/api';
import { type S3Server, eventually, startS3Server } from '@nimbus/testkit';
import { s3Source } from '../src/s3/index.js';
import { PushRefusedError, type PushedRequest, type SourceEvent } from '../src/source.js';
import { MapSecrets, Uploader, dataOf, s3Trigger } from './s3-fixture.js';

const TOKEN = 'notify-token-1';
const pushed = s3Source.pushed ?? assert.fail('the s3 source takes no pushed requests');

/** What reached the test's endpoint: the request as the gateway hands it on, and what accept said. */
interface Received {
  request: PushedRequest;
  status: number;
  events: SourceEvent[];
}

/**
 * A small HTTP endpoint standing in for the gateway's S3 notification route: it reads the request,
 * calls pushed.accept for one trigger and answers 202, or the refusal's status with its message.
 */
async function startEndpoint(trigger: () => ResolvedSource<'s3'> | undefined, secrets: () => MapSecrets) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const url = new URL(req.url ?? '/', 'http://endpoint');
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers))
        if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
      const request: PushedRequest = {
        method: req.method ?? 'GET',
        headers,
        query: url.searchParams,
        body: Buffer.concat(chunks),
      };
      const current = trigger();
      try {
        if (current === undefined) throw new PushRefusedError(503, 'no trigger yet');
        const events = await pushed.accept(current, request, secrets(), Date.now());
        received.push({ request, status: 202, events });
        res.writeHead(202).end();
      } catch (err) {
        const status = err instanceof PushRefusedError ? err.status : 500;
        received.push({ request, status, events: [] });
        res
          .writeHead(status, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: (err as Error).message }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    received,
    close: () => new Promise((r) => server.close(r)),
  };
}

async function post(url: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...headers },
  });
  return { status: res.status, body: await res.text() };
}

const md5 = (text: string) => createHash('md5').update(text).digest('hex');

describe('s3 source, mode notify, against versitygw pushing to an endpoint', function () {
  this.timeout(15 * 60_000); // the first run builds versitygw (about 6 minutes on 2 cores)
  let s3: S3Server;
  let endpoint: Awaited<ReturnType<typeof startEndpoint>>;
  let uploader: Uploader;
  let secrets: MapSecrets;
  let trigger: ResolvedSource<'s3'>;
  /** The trigger the endpoint serves, once there is one. */
  let serving: ResolvedSource<'s3'> | undefined;

  before(async () => {
    endpoint = await startEndpoint(
      () => serving,
      () => secrets,
    );
    // versitygw posts a test event to its webhook as it starts: the endpoint must listen first.
    s3 = await startS3Server({ eventWebhookUrl: `${endpoint.url}/s3?token=${TOKEN}` });
    secrets = MapSecrets.forServer(s3, TOKEN);
    trigger = s3Trigger({
      endpoint: s3.endpoint,
      bucket: 'photos',
      prefix: 'in/',
      suffix: '.jpg',
      notifyToken: { name: 's3-notify', key: 'token' },
    });
    serving = trigger;
    uploader = new Uploader(s3);
    await uploader.bucket('photos');
    await uploader.bucket('other');
  });
  after(async () => {
    uploader?.close();
    await s3?.stop();
    await endpoint?.close();
  });

  it('takes the test event versitygw sent as it started, with no events', async () => {
    const first = endpoint.received[0];
    assert.ok(first, 'versitygw sent nothing as it started');
    assert.match(first.request.body.toString(), /s3:TestEvent/);
    assert.deepEqual(await pushed.accept(trigger, first.request, secrets, Date.now()), []);
  });

  it('turns uploads and deletes into created and deleted events, with the bucket, prefix and suffix applied', async () => {
    const before = endpoint.received.length;
    await uploader.put('photos', 'in/a.jpg', 'hello', 'image/jpeg');
    await uploader.put('photos', 'in/my photo+1 é.jpg', 'second');
    await uploader.put('photos', 'in/b.png', 'not a jpg');
    await uploader.put('photos', 'out/c.jpg', 'outside the prefix');
    await uploader.put('other', 'in/d.jpg', 'another bucket');
    await uploader.delete('photos', 'in/a.jpg');
    // Six notifications, one a change; versitygw sends each on its own goroutine, in any order.
    await eventually(
      () => (endpoint.received.length - before >= 6 ? true : undefined),
      10_000,
      'six notifications',
    );
    const got = endpoint.received.slice(before);
    assert.ok(
      got.every((r) => r.status === 202),
      JSON.stringify(got.map((r) => r.status)),
    );
    const events = got.flatMap((r) => r.events);
    const summary = events.map((e) => `${e.type} ${dataOf(e).key}`).sort();
    assert.deepEqual(summary, [
      'dev.nimbus.s3.object.created in/a.jpg',
      'dev.nimbus.s3.object.created in/my photo+1 é.jpg',
      'dev.nimbus.s3.object.deleted in/a.jpg',
    ]);
    const created = events.find((e) => e.type.endsWith('created') && dataOf(e).key === 'in/a.jpg');
    assert.ok(created);
    const data = dataOf(created);
    assert.deepEqual(
      { bucket: data.bucket, size: data.size, etag: data.etag, eventName: data.eventName },
      { bucket: 'photos', size: 5, etag: md5('hello'), eventName: 'ObjectCreated:Put' },
    );
    assert.ok(Math.abs(Date.parse(data.eventTime) - Date.now()) < 60_000, data.eventTime);
    assert.equal(created.source, `${s3.endpoint}/photos`);
    assert.equal(created.subject, 'in/a.jpg');
    assert.equal(created.contentType, 'application/json');
    assert.match(created.id, /^s3-[0-9a-f]{40}$/);
    const odd = events.find((e) => dataOf(e).key.startsWith('in/my'));
    assert.equal(odd?.subject, 'in/my%20photo+1%20%C3%A9.jpg', 'a header-safe subject');
    const deleted = events.find((e) => e.type.endsWith('deleted'));
    assert.notEqual(deleted?.id, created.id);

    // The same notification pushed again (a store retrying) is the same event: the same id.
    const carrier = got.find((r) => r.events.includes(created)) ?? assert.fail('no request carried it');
    const again = await pushed.accept(trigger, carrier.request, secrets, Date.now());
    assert.deepEqual(
      again.map((e) => e.id),
      [created.id],
    );
    // A trigger that wants only deletions gets only that one from the same notifications.
    const deletesOnly = s3Trigger({ ...trigger.spec, events: ['deleted'] });
    const fromSame = [];
    for (const r of got) fromSame.push(...(await pushed.accept(deletesOnly, r.request, secrets, Date.now())));
    assert.deepEqual(
      fromSame.map((e) => `${e.type} ${dataOf(e).key}`),
      ['dev.nimbus.s3.object.deleted in/a.jpg'],
    );
  });

  it('refuses a missing or wrong token with 401, and takes it as a bearer token too', async () => {
    const body = JSON.stringify(notification('photos', 'in/x.jpg'));
    assert.equal((await post(`${endpoint.url}/s3`, body)).status, 401);
    assert.equal((await post(`${endpoint.url}/s3?token=wrong`, body)).status, 401);
    assert.equal((await post(`${endpoint.url}/s3?token=${TOKEN}x`, body)).status, 401);
    assert.equal((await post(`${endpoint.url}/s3`, body, { authorization: 'Bearer nope' })).status, 401);
    const refused = await post(`${endpoint.url}/s3`, body, { authorization: `Basic ${TOKEN}` });
    assert.equal(refused.status, 401);
    assert.doesNotMatch(refused.body, new RegExp(TOKEN), 'the answer does not echo the token');
    const before = endpoint.received.length;
    assert.equal((await post(`${endpoint.url}/s3`, body, { authorization: `Bearer ${TOKEN}` })).status, 202);
    assert.deepEqual(
      endpoint.received[before]?.events.map((e) => dataOf(e).key),
      ['in/x.jpg'],
    );
  });

  it('refuses everything for a trigger without a notifyToken', async () => {
    const open = s3Trigger({ endpoint: s3.endpoint, bucket: 'photos' });
    const request = pushedRequest(JSON.stringify(notification('photos', 'in/x.jpg')), { token: '' });
    await assert.rejects(
      pushed.accept(open, request, secrets, Date.now()),
      (err: unknown) => status(err) === 401,
    );
  });

  it('yields nothing for a notification forged for another bucket, even with the token', async () => {
    const before = endpoint.received.length;
    const forged = notification('other', 'in/evil.jpg');
    assert.equal((await post(`${endpoint.url}/s3?token=${TOKEN}`, JSON.stringify(forged))).status, 202);
    assert.deepEqual(endpoint.received[before]?.events, []);
  });

  it('refuses malformed bodies with 400 and a message naming the problem', async () => {
    const cases: [string, RegExp][] = [
      ['{"Records": [', /not JSON/],
      ['[1,2]', /not a JSON object/],
      ['{"Records": {}}', /no Records array/],
      ['{"Records": [{"eventName": 7}]}', /Records\[0\]\.eventName is not a string/],
      [
        JSON.stringify({ Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: {} } }] }),
        /Records\[0\]\.s3\.bucket\.name/,
      ],
      [JSON.stringify(notification('photos', 'in/x.jpg', { size: -1 })), /size is not a whole number/],
      [JSON.stringify(notification('photos', 'in/x.jpg', { size: 1e300 })), /size is not a whole number/],
      [JSON.stringify(notification('photos', 'x'.repeat(1_100))), /key is not a key of 1 to 1024 bytes/],
      [JSON.stringify({ Records: Array.from({ length: 1_001 }, () => ({})) }), /1001 records/],
    ];
    for (const [body, message] of cases) {
      const res = await post(`${endpoint.url}/s3?token=${TOKEN}`, body);
      assert.equal(res.status, 400, body.slice(0, 80));
      assert.match(JSON.parse(res.body).error, message);
    }
  });

  it("decodes keys in S3's own format, and ignores other kinds of records", async () => {
    const body = notification('photos', 'in/a+b%2Bc%C3%A9.jpg', { configurationId: 'thumbnails' });
    body.Records.push({ ...body.Records[0], eventName: 'ObjectTagging:Put' });
    const events = await pushed.accept(
      trigger,
      pushedRequest(JSON.stringify(body), { token: TOKEN }),
      secrets,
      Date.now(),
    );
    assert.deepEqual(
      events.map((e) => dataOf(e).key),
      ['in/a b+cé.jpg'],
    );
  });
});

/** A notification as AWS S3 sends one (no `s3:` before the event name, the key URL-encoded). */
function notification(bucket: string, key: string, object: { size?: number; configurationId?: string } = {}) {
  return {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        eventTime: '2026-12-01T10:00:00.000Z',
        eventName: 'ObjectCreated:Put',
        s3: {
          configurationId: object.configurationId ?? 'webhook-global',
          bucket: { name: bucket },
          object: { key, size: object.size ?? 3, eTag: 'abc', sequencer: '0055AED6DCD90281E5' },
        },
      } as Record<string, unknown>,
    ],
  };
}

function pushedRequest(body: string, query: Record<string, string>): PushedRequest {
  return { method: 'POST', headers: {}, query: new URLSearchParams(query), body: Buffer.from(body) };
}

function status(err: unknown): number | undefined {
  return err instanceof PushRefusedError ? err.status : undefined;
}
