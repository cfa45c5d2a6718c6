import assert from 'node:assert/strict';
import { handlerOf, inlineFileName } from '../src/inline-source.js';
import { validateFunction } from '../src/validate.js';

const base = () => ({
  apiVersion: 'nimbus.dev/v1alpha1',
  kind: 'Function',
  metadata: { name: 'hello' },
  spec: { source: { inline: 'export default () => "hi"' } },
});

type Doc = ReturnType<typeof base> & Record<string, unknown>;

describe('validateFunction', () => {
  it('applies the defaults a cluster would', () => {
    const result = validateFunction(base());
    assert.ok(result.ok, JSON.stringify(result));
    const { spec, metadata } = result.value;
    assert.equal(metadata.namespace, 'default');
    assert.equal(spec.runtime, 'node20');
    assert.equal(spec.handler, 'index.default');
    assert.equal(spec.timeout, '30s');
    assert.equal(spec.concurrency, 50);
    assert.deepEqual(spec.scale, { min: 0, max: 20, target: 10, scaleToZeroAfter: '60s' });
    assert.deepEqual(spec.http, { auth: 'none' });
    assert.deepEqual(spec.async, {
      maxAttempts: 3,
      retryOn: [429, 500, 502, 503, 504],
      backoff: { initial: '1s', max: '5m' },
    });
  });

  it('fills in the async policy around the parts a Function gives', () => {
    const doc = base() as Doc;
    Object.assign(doc.spec, { async: { maxAttempts: 5, backoff: { initial: '200ms' } } });
    const result = validateFunction(doc);
    assert.ok(result.ok, JSON.stringify(result));
    assert.deepEqual(result.value.spec.async, {
      maxAttempts: 5,
      retryOn: [429, 500, 502, 503, 504],
      backoff: { initial: '200ms', max: '5m' },
    });
  });

  it('keeps an empty retryOn: retry on connection failures only', () => {
    const doc = base() as Doc;
    Object.assign(doc.spec, { async: { retryOn: [] } });
    const result = validateFunction(doc);
    assert.ok(result.ok, JSON.stringify(result));
    assert.deepEqual(result.value.spec.async?.retryOn, []);
  });

  it('takes destinations naming a function or a subject', () => {
    const doc = base() as Doc;
    const destinations = { onSuccess: { function: 'index-file' }, onFailure: { subject: 'uploads.failed' } };
    Object.assign(doc.spec, { destinations });
    const result = validateFunction(doc);
    assert.ok(result.ok, JSON.stringify(result));
    assert.deepEqual(result.value.spec.destinations, destinations);
  });

  it('does not modify its input', () => {
    const doc = base();
    validateFunction(doc);
    assert.deepEqual(doc, base());
  });

  const refused: [string, (d: Doc) => void, string, RegExp][] = [
    [
      'a name that is not a DNS label',
      (d) => {
        d.metadata.name = 'Hello_World';
      },
      'metadata.name',
      /RFC 1035/,
    ],
    [
      'a name with ..',
      (d) => {
        d.metadata.name = '..';
      },
      'metadata.name',
      /RFC 1035/,
    ],
    [
      'a wrong kind',
      (d) => {
        d.kind = 'Deployment';
      },
      'kind',
      /must be one of: Function/,
    ],
    ['a missing spec', (d) => delete (d as Partial<Doc>).spec, 'spec', /is required/],
    [
      'an unknown field (a typo)',
      (d) => Object.assign(d.spec, { timout: '5s' }),
      'spec.timout',
      /not a known field/,
    ],
    ['a malformed duration', (d) => Object.assign(d.spec, { timeout: 'soon' }), 'spec.timeout', /duration/],
    ['a timeout over an hour', (d) => Object.assign(d.spec, { timeout: '2h' }), 'spec.timeout', /at most 1h/],
    ['a zero timeout', (d) => Object.assign(d.spec, { timeout: '0s' }), 'spec.timeout', /more than 0s/],
    [
      'min above max',
      (d) => Object.assign(d.spec, { scale: { min: 5, max: 2 } }),
      'spec.scale.min',
      /exceed max/,
    ],
    [
      'a destination with both a function and a subject',
      (d) => Object.assign(d.spec, { destinations: { onSuccess: { function: 'b', subject: 'a.b' } } }),
      'spec.destinations.onSuccess',
      /exactly one of function and subject/,
    ],
    [
      'a destination with neither',
      (d) => Object.assign(d.spec, { destinations: { onFailure: {} } }),
      'spec.destinations.onFailure',
      /exactly one of function and subject/,
    ],
    [
      'a destination subject with a wildcard',
      (d) => Object.assign(d.spec, { destinations: { onSuccess: { subject: 'orders.*' } } }),
      'spec.destinations.onSuccess.subject',
      /must match/,
    ],
    [
      "a destination on Nimbus's own calls",
      (d) => Object.assign(d.spec, { destinations: { onSuccess: { subject: 'nimbus.calls.default.x' } } }),
      'spec.destinations.onSuccess.subject',
      /reserved/,
    ],
    [
      'a destination on an inbox',
      (d) => Object.assign(d.spec, { destinations: { onFailure: { subject: '_INBOX.abc' } } }),
      'spec.destinations.onFailure.subject',
      /reserved/,
    ],
    [
      'a destination function that is not a name',
      (d) => Object.assign(d.spec, { destinations: { onSuccess: { function: 'B_2' } } }),
      'spec.destinations.onSuccess.function',
      /RFC 1035 label/,
    ],
    ['concurrency 0', (d) => Object.assign(d.spec, { concurrency: 0 }), 'spec.concurrency', />= 1/],
    ['both image and source', (d) => Object.assign(d.spec, { image: 'x/y:1' }), 'spec.source', /exactly one/],
    [
      'neither image nor source',
      (d) => delete (d.spec as Partial<Doc['spec']>).source,
      'spec.source',
      /exactly one/,
    ],
    [
      'both inline and path',
      (d) => Object.assign(d.spec, { source: { inline: 'x', path: './x' } }),
      'spec.source',
      /exactly one of inline and path/,
    ],
    [
      'a bad handler',
      (d) => Object.assign(d.spec, { handler: '../x.default' }),
      'spec.handler',
      /<module>.<export>/,
    ],
    [
      'a reserved env name',
      (d) => Object.assign(d.spec, { env: [{ name: 'A', value: '1' }, { name: 'NIMBUS_X' }] }),
      'spec.env[1].name',
      /reserved/,
    ],
    [
      'an unknown auth mode',
      (d) => Object.assign(d.spec, { http: { auth: 'oauth' } }),
      'spec.http.auth',
      /none, key/,
    ],
    [
      'a trigger of two kinds',
      (d) =>
        Object.assign(d.spec, { triggers: [{ nats: { subject: 'a.b' }, schedule: { cron: '* * * * *' } }] }),
      'spec.triggers[0]',
      /exactly one of nats, schedule, postgres, s3, rabbitmq, mqtt, webhook/,
    ],
    [
      'a source trigger without a name',
      (d) =>
        Object.assign(d.spec, {
          triggers: [{ webhook: { secret: { name: 'hook', key: 'secret' } } }],
        }),
      'spec.triggers[0].name',
      /required for an event-source trigger/,
    ],
    [
      'two triggers of one name',
      (d) =>
        Object.assign(d.spec, {
          triggers: [
            { name: 'in', webhook: { secret: { name: 'hook', key: 'secret' } } },
            { name: 'in', mqtt: { connection: { name: 'broker', key: 'url' }, topics: ['a/#'] } },
          ],
        }),
      'spec.triggers',
      /trigger names must be unique/,
    ],
    [
      'a Postgres table that is not an identifier',
      (d) =>
        Object.assign(d.spec, {
          triggers: [
            {
              name: 'db',
              postgres: { connection: { name: 'db', key: 'url' }, tables: ['orders; drop table x'] },
            },
          ],
        }),
      'spec.triggers[0].postgres.tables[0]',
      /pattern|must/,
    ],
    [
      'maxAttempts 0',
      (d) => Object.assign(d.spec, { async: { maxAttempts: 0 } }),
      'spec.async.maxAttempts',
      />= 1/,
    ],
    [
      'maxAttempts over 100',
      (d) => Object.assign(d.spec, { async: { maxAttempts: 101 } }),
      'spec.async.maxAttempts',
      /<= 100/,
    ],
    [
      'a retryOn code that is not an error',
      (d) => Object.assign(d.spec, { async: { retryOn: [200] } }),
      'spec.async.retryOn[0]',
      />= 400/,
    ],
    [
      'a malformed backoff duration',
      (d) => Object.assign(d.spec, { async: { backoff: { initial: 'soon' } } }),
      'spec.async.backoff.initial',
      /duration/,
    ],
    [
      'a zero initial backoff',
      (d) => Object.assign(d.spec, { async: { backoff: { initial: '0s' } } }),
      'spec.async.backoff.initial',
      /more than 0s and at most max/,
    ],
    [
      'an initial backoff above its max',
      (d) => Object.assign(d.spec, { async: { backoff: { initial: '10m', max: '1m' } } }),
      'spec.async.backoff.initial',
      /at most max/,
    ],
    [
      'a backoff max over a day',
      (d) => Object.assign(d.spec, { async: { backoff: { max: '25h' } } }),
      'spec.async.backoff.max',
      /at most 24h/,
    ],
    [
      'retainFor beside deletionPolicy Delete',
      (d) => Object.assign(d.spec, { state: { enabled: false, deletionPolicy: 'Delete', retainFor: '1h' } }),
      'spec.state.retainFor',
      /only for deletionPolicy Retain/,
    ],
    [
      'a retainFor over a year',
      (d) => Object.assign(d.spec, { state: { enabled: false, retainFor: '8761h' } }),
      'spec.state.retainFor',
      /at most 8760h/,
    ],
    [
      'an unknown deletion policy',
      (d) => Object.assign(d.spec, { state: { enabled: false, deletionPolicy: 'Recycle' } }),
      'spec.state.deletionPolicy',
      /Retain, Delete/,
    ],
    [
      'a rate limit of zero calls a second',
      (d) => Object.assign(d.spec, { http: { rateLimit: { requestsPerSecond: 0 } } }),
      'spec.http.rateLimit.requestsPerSecond',
      /more than 0|>= 0.001/,
    ],
    [
      'a per-caller rate limit of zero calls a second',
      (d) =>
        Object.assign(d.spec, {
          http: { rateLimit: { requestsPerSecond: 5, perCaller: { requestsPerSecond: 0 } } },
        }),
      'spec.http.rateLimit.perCaller.requestsPerSecond',
      /more than 0|>= 0.001/,
    ],
    [
      'an anonymous rate limit without a rate',
      (d) =>
        Object.assign(d.spec, { http: { rateLimit: { requestsPerSecond: 5, anonymous: { burst: 3 } } } }),
      'spec.http.rateLimit.anonymous.requestsPerSecond',
      /required/,
    ],
    [
      'an unknown cron concurrency policy',
      (d) =>
        Object.assign(d.spec, {
          triggers: [{ schedule: { cron: '* * * * *', concurrencyPolicy: 'Queue' } }],
        }),
      'spec.triggers[0].schedule.concurrencyPolicy',
      /Allow, Forbid, Replace/,
    ],
    [
      'a command on a node20 function',
      (d) => Object.assign(d.spec, { command: ['python3', 'app.py'] }),
      'spec.command',
      /only for runtime container/,
    ],
    [
      'a port on a node20 function',
      (d) => Object.assign(d.spec, { port: 3000 }),
      'spec.port',
      /only for runtime container/,
    ],
    [
      'a readiness check on a node20 function',
      (d) => Object.assign(d.spec, { readiness: { tcpSocket: {} } }),
      'spec.readiness',
      /only for runtime container/,
    ],
    [
      'inline code on a container function',
      (d) => Object.assign(d.spec, { runtime: 'container', command: ['./serve'] }),
      'spec.source.inline',
      /needs a runtime/,
    ],
    [
      'a container function with a folder but no command',
      (d) => Object.assign(d.spec, { runtime: 'container', source: { path: './app' } }),
      'spec.command',
      /required for runtime container without an image/,
    ],
    [
      'state on a container function',
      (d) =>
        Object.assign(d.spec, {
          runtime: 'container',
          source: undefined,
          image: 'acme/x:1',
          state: { enabled: true },
        }),
      'spec.state.enabled',
      /needs a Nimbus runtime/,
    ],
    [
      'a readiness check with both kinds',
      (d) =>
        Object.assign(d.spec, {
          runtime: 'container',
          source: undefined,
          image: 'acme/x:1',
          readiness: { httpGet: { path: '/ready' }, tcpSocket: {} },
        }),
      'spec.readiness',
      /exactly one of httpGet and tcpSocket/,
    ],
    [
      'a readiness path that is not a path',
      (d) =>
        Object.assign(d.spec, {
          runtime: 'container',
          source: undefined,
          image: 'acme/x:1',
          readiness: { httpGet: { path: 'healthz' } },
        }),
      'spec.readiness.httpGet.path',
      /starting with \//,
    ],
    [
      'a port out of range',
      (d) =>
        Object.assign(d.spec, { runtime: 'container', source: undefined, image: 'acme/x:1', port: 70000 }),
      'spec.port',
      /must be <= 65535/,
    ],
    [
      'an empty command',
      (d) => Object.assign(d.spec, { runtime: 'container', source: { path: '.' }, command: [] }),
      'spec.command',
      /must NOT have fewer than 1 items/,
    ],
    [
      'traffic without versions',
      (d) => Object.assign(d.spec, { traffic: [{ latestVersion: true, percent: 100 }] }),
      'spec.traffic',
      /needs spec.versions/,
    ],
    [
      'traffic that does not add up to 100',
      (d) =>
        Object.assign(d.spec, {
          versions: { keep: 5 },
          traffic: [
            { version: 'v1', percent: 90 },
            { latestVersion: true, percent: 20 },
          ],
        }),
      'spec.traffic',
      /add up to 100/,
    ],
    [
      'a tag given twice',
      (d) =>
        Object.assign(d.spec, {
          versions: { keep: 5 },
          traffic: [
            { version: 'v1', percent: 50, tag: 'blue' },
            { version: 'v2', percent: 50, tag: 'blue' },
          ],
        }),
      'spec.traffic',
      /tags must be unique/,
    ],
    [
      'a traffic entry with both a version and latestVersion',
      (d) =>
        Object.assign(d.spec, {
          versions: { keep: 5 },
          traffic: [{ version: 'v1', latestVersion: true, percent: 100 }],
        }),
      'spec.traffic[0]',
      /exactly one of version and latestVersion/,
    ],
    [
      'a tag that looks like a version',
      (d) =>
        Object.assign(d.spec, {
          versions: { keep: 5 },
          traffic: [{ version: 'v1', percent: 100, tag: 'v2' }],
        }),
      'spec.traffic[0].tag',
      /must not look like a version name/,
    ],
    [
      'a version that is not a version name',
      (d) => Object.assign(d.spec, { versions: { keep: 5 }, traffic: [{ version: 'latest', percent: 100 }] }),
      'spec.traffic[0].version',
      /must be a version name/,
    ],
    [
      'rollout steps that fall',
      (d) =>
        Object.assign(d.spec, {
          versions: { keep: 5 },
          rollout: { steps: [{ percent: 50 }, { percent: 10 }] },
        }),
      'spec.rollout.steps',
      /must rise/,
    ],
    [
      'a rollout without versions',
      (d) => Object.assign(d.spec, { rollout: { steps: [{ percent: 10 }] } }),
      'spec.rollout',
      /needs spec.versions/,
    ],
    [
      'a .py module on a node20 function',
      (d) => Object.assign(d.spec, { handler: 'main.py.handle' }),
      'spec.handler',
      /needs runtime python3.11/,
    ],
    [
      'a JavaScript module on a python3.11 function',
      (d) => Object.assign(d.spec, { runtime: 'python3.11', handler: 'index.mjs.default' }),
      'spec.handler',
      /a python3.11 handler is <module>.<function> of a .py module/,
    ],
    [
      'an unknown async field',
      (d) => Object.assign(d.spec, { async: { retries: 3 } }),
      'spec.async.retries',
      /not a known field/,
    ],
  ];
  for (const [name, mutate, field, message] of refused) {
    it(`refuses ${name}, naming ${field}`, () => {
      const doc = base() as Doc;
      mutate(doc);
      const result = validateFunction(doc);
      assert.equal(result.ok, false);
      if (result.ok) return;
      const hit = result.errors.find((e) => e.field === field);
      assert.ok(hit, `no error for ${field} in ${JSON.stringify(result.errors)}`);
      assert.match(hit.message, message);
    });
  }

  it('takes a container function as an image, or as a command in a folder', () => {
    for (const spec of [
      { runtime: 'container', image: 'ghcr.io/acme/hello:1' },
      {
        runtime: 'container',
        image: 'acme/hello:1',
        command: ['/app/serve'],
        port: 3000,
        readiness: { httpGet: { path: '/_/health' } },
      },
      { runtime: 'container', source: { path: './hello' }, command: ['python3', 'server.py'] },
    ]) {
      const result = validateFunction({ ...base(), spec });
      assert.ok(result.ok, JSON.stringify(result));
      assert.equal(result.value.spec.runtime, 'container');
      // No default port in the stored object: a node20 function's spec, and its hash, stay as they were.
      assert.equal(result.value.spec.port, spec.port);
    }
  });

  it('takes a python3.11 function, whose default handler means main.handle', () => {
    const result = validateFunction({
      ...base(),
      spec: { runtime: 'python3.11', source: { inline: 'def handle(e, c): return 1' } },
    });
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.value.spec.handler, 'index.default', 'the stored spec keeps the schema default');
    assert.equal(handlerOf(result.value.spec), 'main.handle');
    assert.equal(inlineFileName(handlerOf(result.value.spec), 'python3.11'), 'main.py');
    assert.equal(
      handlerOf({ runtime: 'python3.11', handler: 'app/orders.py.process' }),
      'app/orders.py.process',
    );
    assert.equal(inlineFileName('app/orders.process', 'python3.11'), 'app/orders.py');
    assert.equal(handlerOf({ runtime: 'node20', handler: 'index.default' }), 'index.default');
  });

  it('takes a state deletion policy and a retention period with Retain', () => {
    const doc = base() as Doc;
    Object.assign(doc.spec, { state: { enabled: false, deletionPolicy: 'Retain', retainFor: '72h' } });
    const result = validateFunction(doc);
    assert.ok(result.ok, JSON.stringify(result));
    assert.deepEqual(result.value.spec.state, { enabled: false, deletionPolicy: 'Retain', retainFor: '72h' });
  });

  it('refuses a document that is not a mapping', () => {
    const result = validateFunction(['a']);
    assert.deepEqual(result, {
      ok: false,
      errors: [{ field: '(document)', message: 'must be a YAML mapping' }],
    });
  });
});
