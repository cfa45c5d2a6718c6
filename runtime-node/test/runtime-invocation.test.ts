import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { removeFunctionDirs } from './support/function-dir.js';
import { eventually, metric, request } from './support/http-client.js';
import type { RuntimeProcess } from './support/runtime-process.js';
import { RUNTIMES, type RuntimeUnderTest, startRuntime } from './support/runtimes.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const TIMEOUT_MS = 400;

/**
 * The invocation contract every runtime keeps, run against each: the same requests, the same
 * kitchen-sink routes written in each runtime's language, the same answers.
 */
function describeInvocations(subject: RuntimeUnderTest): void {
  describe(`runtime process: invocations (${subject.name})`, function () {
    this.timeout(30_000);
    let runtime: RuntimeProcess;
    let port: number;
    let gateway: http.Server;
    const gatewayCalls: { url?: string; headers: http.IncomingHttpHeaders; body: string }[] = [];

    before(async () => {
      gateway = http.createServer((req, res) => {
        let body = '';
        req.on('data', (chunk) => {
          body += chunk;
        });
        req.on('end', () => {
          gatewayCalls.push({ url: req.url, headers: req.headers, body });
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"sum":3}');
        });
      });
      await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
      runtime = await startRuntime(subject, subject.kitchenSink, {
        NIMBUS_FUNCTION_NAME: 'sink',
        NIMBUS_FUNCTION_NAMESPACE: 'tests',
        NIMBUS_TIMEOUT_MS: String(TIMEOUT_MS),
        NIMBUS_MAX_BODY_BYTES: '1000',
        // The developer's setting: a handler's error text reaches the caller.
        NIMBUS_ERROR_DETAIL: 'full',
        NIMBUS_GATEWAY_URL: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`,
      });
      port = runtime.port;
    });

    after(async () => {
      await runtime?.stop();
      await new Promise<void>((resolve) => gateway.close(() => resolve()));
      removeFunctionDirs();
    });

    afterEach(function () {
      // Every test leaves the replica serving; a crash here names the test that caused it.
      assert.ok(runtime.alive, `runtime died during "${this.currentTest?.title}": ${runtime.stderr}`);
    });

    it('hands the handler the event and context', async () => {
      const res = await request(port, '/echo?tag=a&tag=b&one=1', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'X-Mixed-Case': 'kept', 'x-call-id': 'call-abc.1' },
        body: '{"n":[1,2]}',
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(res.headers['x-call-id'], 'call-abc.1');
      const echo = res.json() as Record<string, Record<string, unknown>>;
      assert.equal(echo.method, 'POST');
      assert.equal(echo.path, '/echo');
      assert.deepEqual(echo.query, { tag: ['a', 'b'], one: '1' });
      assert.equal(echo.headers?.['x-mixed-case'], 'kept');
      assert.deepEqual(echo.body, { n: [1, 2] });
      assert.equal(echo.rawBody, Buffer.from('{"n":[1,2]}').toString('base64'));
      assert.equal(echo.cloudEvent, null);
      assert.equal(echo.ctx?.functionName, 'sink');
      assert.equal(echo.ctx?.namespace, 'tests');
      assert.equal(echo.ctx?.invocationId, 'call-abc.1');
      assert.equal(echo.ctx?.aborted, false);
      const remaining = Number(echo.ctx?.remaining);
      assert.ok(remaining > 0 && remaining <= TIMEOUT_MS, `remaining ${remaining}`);
    });

    it('parses text, form and binary bodies and leaves a GET without one', async () => {
      const text = (
        await request(port, '/echo', {
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: 'hi',
        })
      ).json();
      assert.deepEqual(
        [(text as Record<string, unknown>).body, (text as Record<string, unknown>).bodyType],
        ['hi', 'string'],
      );
      const form = (
        await request(port, '/echo', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'a=1&b=2',
        })
      ).json() as Record<string, unknown>;
      assert.equal(form.body, 'a=1&b=2');
      const binary = (
        await request(port, '/echo', {
          method: 'PUT',
          headers: { 'content-type': 'image/png' },
          body: Buffer.from([0, 255]),
        })
      ).json() as Record<string, unknown>;
      assert.deepEqual([binary.body, binary.bodyType], [{ base64: 'AP8=' }, 'buffer']);
      const none = (await request(port, '/echo')).json() as Record<string, unknown>;
      assert.deepEqual([none.bodyType, none.rawBody], ['undefined', '']);
    });

    it('generates a UUID invocation id when x-call-id is missing or not sane', async () => {
      const missing = await request(port, '/text');
      assert.match(String(missing.headers['x-call-id']), UUID);
      const insane = await request(port, '/text', {
        headers: { 'x-call-id': 'has spaces and ; semicolons' },
      });
      assert.match(String(insane.headers['x-call-id']), UUID);
      assert.notEqual(missing.headers['x-call-id'], insane.headers['x-call-id']);
    });

    const mappings: [string, number, string | undefined, string][] = [
      ['/text', 200, 'text/plain; charset=utf-8', 'hello'],
      ['/bytes', 200, 'application/octet-stream', '\u0001\u0002\u0003'],
      ['/number', 200, 'application/json', '42'],
      ['/nothing', 204, undefined, ''],
      ['/explicit', 201, 'application/json', '{"created":true}'],
    ];
    for (const [path, status, type, body] of mappings) {
      it(`maps the return value of ${path} to ${status}`, async () => {
        const res = await request(port, path, { headers: { 'x-call-id': 'map-1' } });
        assert.equal(res.status, status);
        assert.equal(res.headers['content-type'], type);
        assert.equal(res.text, body);
        assert.equal(res.headers['x-call-id'], 'map-1', 'x-call-id is always the invocation id');
      });
    }

    it('keeps explicit headers from the handler', async () => {
      const res = await request(port, '/explicit');
      assert.equal(res.headers['x-custom'], 'yes');
    });

    it('answers an invalid statusCode with a 500 naming the problem', async () => {
      const res = await request(port, '/bad-status');
      assert.equal(res.status, 500);
      assert.match(String((res.json() as Record<string, unknown>).error), /invalid statusCode 700/);
    });

    it('answers a thrown error with 500 JSON without a stack, and logs the stack', async () => {
      const res = await request(port, '/throw', { headers: { 'x-call-id': 'throw-1' } });
      assert.equal(res.status, 500);
      assert.equal(res.headers['content-type'], 'application/json');
      assert.deepEqual(res.json(), { error: 'boom from handler', invocationId: 'throw-1' });
      const line = await runtime.waitForLog(
        (l) => l.msg === 'handler failed' && l.invocationId === 'throw-1',
      );
      assert.equal(line.level, 'error');
      assert.match(String((line.error as Record<string, unknown>).stack), subject.thrownStack);
    });

    it('times out with 504, tells the handler (ctx.signal, ctx.cancelled), and keeps serving', async () => {
      const started = Date.now();
      const res = await request(port, '/hang', { headers: { 'x-call-id': 'hang-1' } });
      const elapsed = Date.now() - started;
      assert.equal(res.status, 504);
      assert.deepEqual(res.json(), {
        error: `function timed out after ${TIMEOUT_MS}ms`,
        invocationId: 'hang-1',
      });
      assert.ok(elapsed >= TIMEOUT_MS - 20 && elapsed < TIMEOUT_MS + 1500, `answered after ${elapsed} ms`);
      // A sync handler records the abort on its own thread, which may run after the 504 is out.
      const abort = await eventually(async () => {
        const last = (await request(port, '/last-abort')).json() as Record<string, unknown> | null;
        return last?.id === 'hang-1' ? last : undefined;
      }, 2_000);
      assert.match(String(abort.reason), /timed out/);
      assert.equal((await request(port, '/text')).status, 200);
      assert.equal(
        await metric(port, 'nimbus_runtime_inflight_requests'),
        0,
        'the timed-out slot was released',
      );
    });

    it('answers malformed JSON with 400 JSON and never calls the handler', async () => {
      const res = await request(port, '/slow?ms=1', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"a":',
      });
      assert.equal(res.status, 400);
      assert.equal(res.headers['content-type'], 'application/json');
      const body = res.json() as Record<string, unknown>;
      assert.match(String(body.error), /^request body is not valid JSON: /);
      assert.equal(body.invocationId, res.headers['x-call-id']);
      assert.equal((await request(port, '/slow-count')).text, '0', 'the handler did not run');
    });

    it('refuses a Content-Length over the limit with 413 before reading the body', async () => {
      // Headers only: the 413 must come without the client sending a byte of the body.
      const response = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1', () => {
          socket.write(
            'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5000\r\n\r\n',
          );
        });
        let data = '';
        socket.on('data', (chunk) => {
          data += chunk;
          if (data.includes('\r\n\r\n') && data.trimEnd().endsWith('}')) {
            socket.destroy();
            resolve(data);
          }
        });
        socket.on('error', reject);
        setTimeout(() => reject(new Error(`no 413 in time; got ${JSON.stringify(data)}`)), 3000).unref();
      });
      assert.match(response, /^HTTP\/1\.1 413 /);
      assert.match(response, /content-type: application\/json/i);
      assert.match(
        response,
        /"error":"request body exceeds the limit of 1000 bytes \(NIMBUS_MAX_BODY_BYTES\)"/,
      );
      assert.match(response, /x-call-id: /i);
    });

    it('refuses a chunked body with 413 as soon as it passes the limit', async () => {
      const { status, body, sent } = await new Promise<{ status: number; body: string; sent: number }>(
        (resolve, reject) => {
          const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/echo', agent: false });
          let sent = 0;
          let answered = false;
          const pump = setInterval(() => {
            if (answered || sent > 200_000) return;
            req.write(Buffer.alloc(100, 97));
            sent += 100;
          }, 1);
          req.on('response', (res) => {
            answered = true;
            let text = '';
            res.on('data', (chunk) => {
              text += chunk;
            });
            res.on('end', () => {
              clearInterval(pump);
              req.destroy();
              resolve({ status: res.statusCode ?? 0, body: text, sent });
            });
          });
          req.on('error', (error) => {
            clearInterval(pump);
            if (!answered) reject(error);
          });
        },
      );
      assert.equal(status, 413);
      assert.match(body, /exceeds the limit of 1000 bytes/);
      assert.ok(
        sent < 200_000,
        `the runtime answered while the body was still streaming (${sent} bytes sent)`,
      );
    });

    it('accepts a body at exactly the limit', async () => {
      const res = await request(port, '/echo', {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: 'x'.repeat(1000),
      });
      assert.equal(res.status, 200);
    });

    it('passes a binary-mode CloudEvent', async () => {
      const res = await request(port, '/echo', {
        method: 'POST',
        headers: {
          'ce-specversion': '1.0',
          'ce-id': 'evt-9',
          'ce-source': '/billing',
          'ce-type': 'invoice.paid',
          'ce-tenant': 'acme',
          'content-type': 'application/json',
        },
        body: '{"amount":12}',
      });
      assert.equal(res.status, 200);
      assert.deepEqual((res.json() as Record<string, unknown>).cloudEvent, {
        specversion: '1.0',
        id: 'evt-9',
        source: '/billing',
        type: 'invoice.paid',
        tenant: 'acme',
        datacontenttype: 'application/json',
        data: { amount: 12 },
      });
    });

    it('passes a structured-mode CloudEvent, data_base64 included', async () => {
      const envelope = { specversion: '1.0', id: 'e1', source: 'urn:x', type: 't', data_base64: 'AQID' };
      const res = await request(port, '/echo', {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify(envelope),
      });
      assert.equal(res.status, 200);
      assert.deepEqual((res.json() as Record<string, unknown>).cloudEvent, {
        specversion: '1.0',
        id: 'e1',
        source: 'urn:x',
        type: 't',
        data: { base64: 'AQID' },
      });
    });

    it('answers a structured CloudEvent missing an attribute with 400 naming it', async () => {
      const res = await request(port, '/echo', {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify({ specversion: '1.0', id: 'e1', type: 't' }),
      });
      assert.equal(res.status, 400);
      const body = res.json() as Record<string, unknown>;
      assert.equal(body.error, 'CloudEvent is missing required attribute "source"');
      assert.equal(body.attribute, 'source');
    });

    it('answers a request the HTTP parser rejects with 400 JSON', async () => {
      const response = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1', () => socket.write('BR\x01KEN / HTTP/1.1\r\n\r\n'));
        let data = '';
        socket.on('data', (chunk) => {
          data += chunk;
        });
        socket.on('close', () => resolve(data));
        socket.on('error', reject);
      });
      assert.match(response, /^HTTP\/1\.1 400 Bad Request\r\n/);
      assert.match(response, /Content-Type: application\/json/);
      assert.match(response, /\{"error":"bad request: /);
    });

    it('answers HEAD with the headers of GET and no body', async () => {
      const res = await request(port, '/text', { method: 'HEAD' });
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-length'], '5');
      assert.equal(res.body.length, 0);
    });

    it('keeps the reserved /_/ paths from the handler', async () => {
      const unknown = await request(port, '/_/echo');
      assert.equal(unknown.status, 404);
      assert.match(String((unknown.json() as Record<string, unknown>).error), /no runtime endpoint/);
      assert.deepEqual((await request(port, '/_/health')).json(), { status: 'ok' });
    });

    it('serves Prometheus metrics', async () => {
      await request(port, '/text');
      const res = await request(port, '/_/metrics');
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
      assert.match(res.text, /^nimbus_runtime_requests_total\{code="200"\} \d+$/m);
      assert.match(res.text, /^nimbus_runtime_request_duration_seconds_bucket\{le="0.001"\} \d+$/m);
      assert.match(res.text, /^nimbus_runtime_request_duration_seconds_bucket\{le="30"\} \d+$/m);
      assert.match(res.text, /^nimbus_runtime_inflight_requests 0$/m);
      assert.match(res.text, /^nimbus_runtime_queued_requests 0$/m);
      assert.match(res.text, /^nimbus_runtime_handler_loaded 1$/m);
      assert.match(res.text, /^process_start_time_seconds \d+(\.\d+)?$/m);
    });

    if (subject.language === 'node') {
      it('logs and survives an unhandled rejection and an uncaught exception from handler code', async () => {
        assert.equal((await request(port, '/leak')).text, 'leaked');
        const rejection = await runtime.waitForLog((l) => l.msg === 'unhandled promise rejection');
        assert.match(String((rejection.error as Record<string, unknown>).stack), /leaked rejection/);
        const thrown = await runtime.waitForLog((l) => l.msg === 'uncaught exception');
        assert.match(String((thrown.error as Record<string, unknown>).message), /thrown from a timer/);
        assert.equal((await request(port, '/text')).status, 200);
      });
    } else {
      it('logs and survives an exception in a thread and in a task nobody awaits, from handler code', async () => {
        assert.equal((await request(port, '/leak')).text, 'leaked');
        const thrown = await runtime.waitForLog((l) => l.msg === 'uncaught exception');
        assert.equal(thrown.level, 'error');
        assert.match(
          String((thrown.error as Record<string, unknown>).stack),
          /RuntimeError: thrown from a thread/,
        );
        if (subject.handlerKind === 'async') {
          const task = await runtime.waitForLog((l) => l.msg === 'unhandled exception in the event loop');
          assert.match(String((task.error as Record<string, unknown>).message), /leaked task exception/);
        }
        assert.equal((await request(port, '/text')).status, 200);
      });
    }

    it('writes ctx.log lines as JSON tagged with the function and invocation id', async () => {
      await request(port, '/log', { headers: { 'x-call-id': 'log-1' } });
      const line = await runtime.waitForLog((l) => l.msg === 'hello from the handler');
      assert.deepEqual(
        { ...line, time: typeof line.time },
        {
          level: 'info',
          time: 'string',
          msg: 'hello from the handler',
          function: 'sink',
          invocationId: 'log-1',
          extra: 1,
        },
      );
    });

    it('calls another function through the gateway with ctx.invoke', async () => {
      const res = await request(port, '/invoke', {
        headers: { 'x-call-id': 'inv-1', traceparent: '00-abc-def-01' },
      });
      // The handler returns ctx.invoke's { statusCode, headers, body } as is, so it is sent as the response.
      assert.equal(res.status, 200);
      assert.deepEqual(res.json(), { sum: 3 });
      const call = gatewayCalls.at(-1);
      assert.equal(call?.url, '/function/adder.tests');
      assert.equal(call?.headers['x-call-id'], 'inv-1');
      assert.equal(call?.headers.traceparent, '00-abc-def-01');
      assert.equal(call?.body, '{"a":1,"b":2}');
    });

    it('rejects ctx.state clearly while state is not enabled', async () => {
      const res = await request(port, '/state');
      assert.deepEqual(res.json(), {
        error: 'function state is not enabled for this function (set spec.state.enabled: true)',
      });
    });

    it('counts requests by status code', async () => {
      const before = (await metric(port, 'nimbus_runtime_requests_total{code="500"}')) ?? 0;
      await request(port, '/throw');
      await eventually(async () => {
        const after = await metric(port, 'nimbus_runtime_requests_total{code="500"}');
        return after === before + 1 ? true : undefined;
      });
    });
  });
}

for (const subject of RUNTIMES) describeInvocations(subject);
