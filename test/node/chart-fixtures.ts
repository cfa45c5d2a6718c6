/**
 * The Functions and in-cluster clients the chart suite applies and runs on the real node: each
 * a manifest or a script as an operator or an app team would write it.
 */

export const FLAKY = `apiVersion: nimbus.dev/v1alpha1
kind: Function
metadata:
  name: flaky
spec:
  source:
    inline: |
      export default async (event) => {
        if (event.query.fail) return { statusCode: 503, body: 'in trouble' };
        return { body: event.body };
      };
  async:
    maxAttempts: 2
    backoff: { initial: 100ms, max: 200ms }
`;

export const COUNTER = `apiVersion: nimbus.dev/v1alpha1
kind: Function
metadata:
  name: counter
spec:
  source:
    inline: |
      export default async (event, ctx) => ({ count: await ctx.state.incr(event.query.key ?? 'hits') });
  state:
    enabled: true
`;

export const SLEEPY = `apiVersion: nimbus.dev/v1alpha1
kind: Function
metadata:
  name: sleepy
spec:
  source:
    inline: |
      export default async () => ({ pid: process.pid, woke: true });
  scale:
    min: 0
    scaleToZeroAfter: 3s
`;

/** A Python function at zero that says which pod answered (a pod's hostname is its name). */
export const SLEEPY_PYTHON = `apiVersion: nimbus.dev/v1alpha1
kind: Function
metadata:
  name: sleepy-python
spec:
  runtime: python3.11
  source:
    inline: |
      import os
      import socket
      import sys

      async def handle(event, ctx):
          return {"pod": socket.gethostname(), "pid": os.getpid(), "python": list(sys.version_info[:2])}
  scale:
    min: 0
    scaleToZeroAfter: 3s
`;

export const ORDERS = `apiVersion: nimbus.dev/v1alpha1
kind: Function
metadata:
  name: orders
spec:
  source:
    inline: |
      export default async (event, ctx) => {
        const ce = event.cloudEvent;
        if (ce !== undefined) {
          const seen = await ctx.state.incr(\`seen:\${ce.id}\`);
          await ctx.state.set(\`order:\${event.body.id}\`, { type: ce.type, source: ce.source, body: event.body, seen });
          return { ok: true };
        }
        return (await ctx.state.get(\`order:\${event.query.id}\`)) ?? { statusCode: 404, body: 'not yet' };
      };
  state:
    enabled: true
  triggers:
    - nats: { subject: orders.created }
`;

export const TICKER = `apiVersion: nimbus.dev/v1alpha1
kind: Function
metadata:
  name: ticker
spec:
  source:
    inline: |
      export default async (event, ctx) => {
        const ce = event.cloudEvent;
        if (ce?.type === 'dev.nimbus.schedule.tick') {
          const runs = await ctx.state.incr(\`runs:\${ce.time}\`);
          const n = await ctx.state.incr('ticks');
          await ctx.state.set(\`tick:\${n}\`, { time: ce.time, runs, body: event.body });
          return {};
        }
        const ticks = [];
        const n = (await ctx.state.get('ticks')) ?? 0;
        for (let i = 1; i <= n; i++) ticks.push(await ctx.state.get(\`tick:\${i}\`));
        return { ticks };
      };
  state:
    enabled: true
  triggers:
    - schedule: { cron: "* * * * * *", body: '{"job":"tick"}' }
`;

/** A function that scales on one request in flight per replica, and says which version answered. */
export const steady = (version: number) => `apiVersion: nimbus.dev/v1alpha1
kind: Function
metadata:
  name: steady
spec:
  source:
    inline: |
      export default async () => {
        await new Promise((resolve) => setTimeout(resolve, 50));
        return { version: ${version}, pod: process.env.HOSTNAME };
      };
  scale:
    min: 1
    max: 3
    target: 1
`;

/** Pods a publisher runs as: `nats.publisherFrom` lets them reach NATS (where policies are enforced). */
export const PUBLISHER_LABELS = { 'nimbus-test/role': 'publisher' };

/**
 * A publisher of one event on NATS, from inside the cluster, as an app logged in as the chart's
 * publisher user would: a JetStream publish (with a message id, so a retry is not a second event)
 * retried while no stream takes the subject yet, printing the stream's acknowledgement.
 */
export const PUBLISH = [
  "const net = require('node:net');",
  'const { NATS_HOST, NATS_USER, NATS_PASSWORD, SUBJECT, DATA, MSG_ID } = process.env;',
  'const deadline = Date.now() + 60000;',
  'function once() {',
  '  const s = net.connect(4222, NATS_HOST);',
  "  let text = '';",
  '  const retry = (why) => { clearTimeout(timer); s.destroy();',
  '    if (Date.now() > deadline) { console.log(JSON.stringify({ gaveUp: why })); process.exit(1); }',
  '    setTimeout(once, 500); };',
  "  const timer = setTimeout(() => retry('no answer'), 3000);",
  "  s.on('error', (e) => retry(e.message));",
  "  s.on('data', (d) => {",
  '    text += d;',
  '    if (/^-ERR/m.test(text)) { console.log(JSON.stringify({ error: text })); process.exit(1); }',
  // MSG <subject> <sid> [reply] <bytes>, HMSG … [reply] <header bytes> <bytes>; an empty reply
  // leaves two spaces.
  '    const m = /(H?)MSG _INBOX\\.nimbus-test 1 +(?:(\\d+) +)?(\\d+)\\r\\n/.exec(text);',
  '    if (!m) return;',
  '    const start = m.index + m[0].length;',
  '    const body = text.slice(start, start + Number(m[3]));',
  '    if (body.length < Number(m[3])) return;',
  "    if (m[1] === 'H' && / 503/.test(body)) { retry('no stream takes the subject yet'); return; }",
  '    clearTimeout(timer); console.log(body.slice(Number(m[2] ?? 0))); process.exit(0);',
  '  });',
  "  s.on('connect', () => {",
  "    const headers = 'NATS/1.0\\r\\nNats-Msg-Id: ' + MSG_ID + '\\r\\n\\r\\n';",
  '    const connect = { verbose: false, headers: true, no_responders: true, user: NATS_USER, pass: NATS_PASSWORD };',
  "    s.write('CONNECT ' + JSON.stringify(connect) + '\\r\\nSUB _INBOX.nimbus-test 1\\r\\n' +",
  "      'HPUB ' + SUBJECT + ' _INBOX.nimbus-test ' + Buffer.byteLength(headers) + ' ' +",
  "      (Buffer.byteLength(headers) + Buffer.byteLength(DATA)) + '\\r\\n' + headers + DATA + '\\r\\n');",
  '  });',
  '}',
  'once();',
].join('\n');

/** A client speaking NATS's text protocol with no credentials, from inside the cluster. */
export const ANONYMOUS_NATS = (host: string) =>
  [
    "const net = require('node:net');",
    `const s = net.connect(4222, '${host}');`,
    "let text = '';",
    "s.on('data', (d) => { text += d; if (/-ERR|\\+OK|PONG/.test(text)) { console.log(JSON.stringify(text)); process.exit(0); } });",
    "s.on('connect', () => s.write('CONNECT {\"verbose\":true}\\r\\nPUB nimbus.calls.apps.flaky 2\\r\\nhi\\r\\nPING\\r\\n'));",
    "s.on('error', (e) => { console.log(JSON.stringify('error: ' + e.message)); process.exit(0); });",
  ].join('');

/**
 * A container function: someone else's Python server (test/fixtures/container-server.py) in an
 * image, held to one call at a time, at zero until called.
 */
export const BOXED = (image: string) => `apiVersion: nimbus.dev/v1alpha1
kind: Function
metadata:
  name: boxed
spec:
  runtime: container
  image: ${image}
  readiness: { httpGet: { path: /healthz } }
  concurrency: 1
  timeout: 20s
  env:
    - { name: GREETING, value: from a real node }
  scale: { min: 0, max: 1, scaleToZeroAfter: 20s }
`;
