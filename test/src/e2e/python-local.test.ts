import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { eventually, send } from '@nimbus/testkit';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { ADMIN_KEY, LocalModeProcess } from '../harness/local-mode-process.js';

const admin = { authorization: `Bearer ${ADMIN_KEY}` };

/** A python3.11 Function with inline source; `spec` adds YAML lines under spec. */
const pythonFunction = (name: string, code: string, spec = '') =>
  inlineFunction(name, code, spec === '' ? 'runtime: python3.11' : `runtime: python3.11\n${spec}`);

const GREET = `
def handle(event, ctx):
    name = event.query.get("name", "world")
    ctx.log.info("greeting", who=name)
    return f"Hello, {name}, from Python!"
`;

const COUNT = `
async def handle(event, ctx):
    key = event.query.get("key", "hits")
    return {"count": await ctx.state.incr(key), "invocation": ctx.invocation_id}
`;

const TICK = `
seen = []

def handle(event, ctx):
    if event.method == "GET":
        return seen
    ce = event.cloud_event
    seen.append({"type": ce["type"], "id": ce["id"], "data": ce.get("data")})
    return None
`;

/**
 * runtime-python through local mode, as `npm start` runs it: an inline Python handler, sync or
 * async, with the event, ctx.log, ctx.state through the supervisor, scale to zero and back, and
 * schedule ticks as CloudEvents.
 */
describe('Python functions in local mode (runtime-python)', function () {
  this.timeout(60_000);
  let platform: LocalModeProcess;
  let dir: string;

  before(async () => {
    dir = await functionsFolder({
      'greet.yaml': pythonFunction('greet', GREET, 'scale: { min: 1 }'),
      'count.yaml': pythonFunction(
        'count',
        COUNT,
        'scale: { min: 0, scaleToZeroAfter: 1s }\nstate: { enabled: true }',
      ),
      'tick.yaml': pythonFunction(
        'tick',
        TICK,
        `scale: { min: 1 }
triggers:
  - schedule: { cron: "* * * * * *", body: '{"n": 1}' }`,
      ),
    });
    platform = await LocalModeProcess.start(dir);
  });

  after(async () => {
    const code = await platform?.stop();
    assert.equal(code, 0);
    await rm(dir, { recursive: true, force: true });
  });

  it('serves an inline def handle(event, ctx) with the query, and logs its ctx.log line as JSON', async () => {
    const reply = await eventually(
      async () => {
        const r = await send(platform.url, '/function/greet?name=Ada', { headers: { 'x-call-id': 'py-1' } });
        return r.status === 200 ? r : undefined;
      },
      20_000,
      'greet to answer',
    );
    assert.equal(reply.text, 'Hello, Ada, from Python!');
    assert.match(String(reply.headers['content-type']), /^text\/plain/);
    const line = await platform.waitForLog((l) => l.msg === 'greeting' && l.invocationId === 'py-1', 5_000);
    assert.equal(line.who, 'Ada');
    assert.equal(line.function, 'greet');
  });

  it('runs an async handler with ctx.state through the supervisor, woken from zero', async () => {
    await eventually(
      async () => {
        const list = (await send(platform.url, '/system/functions', { headers: admin })).json<
          { metadata: { name: string }; status: { replicas: number } }[]
        >();
        return list.find((f) => f.metadata.name === 'count')?.status.replicas === 0 ? true : undefined;
      },
      20_000,
      'count at zero',
    );
    const first = await send(platform.url, '/function/count?key=visits');
    assert.equal(first.status, 200, first.text);
    assert.equal(first.headers['x-nimbus-cold-start'], 'true');
    assert.equal(first.json().count, 1);
    const second = await send(platform.url, '/function/count?key=visits');
    assert.equal(second.json().count, 2, 'the same key, kept by the supervisor');
  });

  it('takes schedule ticks as CloudEvents in event.cloud_event', async () => {
    const ticks = await eventually(
      async () => {
        const seen = (await send(platform.url, '/function/tick')).json<{ type: string; data: unknown }[]>();
        return seen.length >= 2 ? seen : undefined;
      },
      10_000,
      'two ticks',
    );
    for (const tick of ticks.slice(0, 2)) {
      assert.equal(tick.type, 'dev.nimbus.schedule.tick');
      assert.deepEqual(tick.data, { n: 1 });
    }
  });

  it('shows the Python function in faas-cli’s list, and its log lines in /system/logs', async () => {
    const list = (await send(platform.url, '/system/functions', { headers: admin })).json<
      { name: string; image: string }[]
    >();
    assert.equal(list.find((f) => f.name === 'greet')?.image, '(python3.11, inline source)');
    const logs = await send(platform.url, '/system/logs?name=greet&follow=false', { headers: admin });
    assert.match(logs.text, /greeting/);
  });
});
