/**
 * Handler sources for the integration tests. The kitchen-sink handler routes on event.path so one
 * replica can exercise many behaviours; the others each need a replica of their own.
 */

export const KITCHEN_SINK = `
let slowStarted = 0;
let lastAbort;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export default async function (event, ctx) {
  switch (event.path) {
    case '/echo':
      return {
        method: event.method,
        path: event.path,
        query: event.query,
        headers: event.headers,
        body: Buffer.isBuffer(event.body) ? { base64: event.body.toString('base64') } : event.body,
        bodyType: Buffer.isBuffer(event.body) ? 'buffer' : typeof event.body,
        rawBody: event.rawBody.toString('base64'),
        cloudEvent: event.cloudEvent === undefined ? null : {
          ...event.cloudEvent,
          data: Buffer.isBuffer(event.cloudEvent.data) ? { base64: event.cloudEvent.data.toString('base64') } : event.cloudEvent.data,
        },
        ctx: {
          functionName: ctx.functionName,
          namespace: ctx.namespace,
          invocationId: ctx.invocationId,
          deadlineAhead: ctx.deadline - Date.now(),
          remaining: ctx.getRemainingTimeInMillis(),
          aborted: ctx.signal.aborted,
        },
      };
    case '/text': return 'hello';
    case '/bytes': return Buffer.from([1, 2, 3]);
    case '/nothing': return undefined;
    case '/number': return 42;
    case '/explicit': return { statusCode: 201, headers: { 'X-Custom': 'yes', 'x-call-id': 'forged' }, body: { created: true } };
    case '/bad-status': return { statusCode: 700 };
    case '/throw': throw new Error('boom from handler');
    case '/hang':
      ctx.signal.addEventListener('abort', () => { lastAbort = { id: ctx.invocationId, reason: String(ctx.signal.reason) }; });
      return new Promise(() => {});
    case '/last-abort': return lastAbort ?? null;
    case '/slow':
      slowStarted += 1;
      await sleep(Number(event.query.ms ?? 200));
      return 'slow done';
    case '/slow-count': return slowStarted;
    case '/leak':
      Promise.reject(new Error('leaked rejection'));
      setTimeout(() => { throw new Error('thrown from a timer'); }, 0);
      return 'leaked';
    case '/log':
      ctx.log.info('hello from the handler', { extra: 1 });
      return 'logged';
    case '/invoke':
      return await ctx.invoke('adder', { a: 1, b: 2 });
    case '/state':
      return await ctx.state.get('k').then(() => 'unexpected', (error) => ({ error: error.message }));
    default:
      return { statusCode: 404, body: { error: 'no route ' + event.path } };
  }
}
`;

export const ESM_DEFAULT = `export default async (event) => ({ kind: 'esm-default', method: event.method });\n`;
export const ESM_NAMED = `export const handle = async () => 'esm-named';\nexport default () => 'wrong export';\n`;
export const CJS_DEFAULT = `module.exports = async function (event, ctx) { return 'cjs-default ' + ctx.functionName; };\n`;
export const CJS_NAMED = `exports.handle = async () => ({ kind: 'cjs-named' });\n`;
export const THROWS_ON_LOAD = "throw new Error('cannot start: DATABASE_URL is not set');\n";
export const SYNTAX_ERROR = 'export default async function (event {\n';

/** Reads the function's env at import time and per call: a pool replica must set it before the import. */
export const ESM_ENV = `const atImport = process.env.GREETING ?? null;
export default async (event, ctx) => {
  if (event.path === '/hang') return new Promise(() => {});
  return {
    kind: 'esm',
    atImport,
    now: process.env.GREETING ?? null,
    functionName: ctx.functionName,
    namespace: ctx.namespace,
    tokenFile: process.env.NIMBUS_POOL_TOKEN_FILE ?? null,
  };
};
`;
export const CJS_ENV = `const atImport = process.env.GREETING ?? null;
exports.handle = async (event, ctx) => ({ kind: 'cjs', atImport, functionName: ctx.functionName });
`;

/**
 * ctx.state, each operation on a path of its own. A failure the handler catches comes back as its
 * name and message; on /uncaught/... it is left to the runtime. PY_STATE is its Python twin.
 */
export const STATE = `
const ttl = (event) => (event.query.ttl === undefined ? undefined : { ttlSeconds: Number(event.query.ttl) });

async function operate(event, state) {
  const key = event.query.key ?? 'k';
  switch (event.path.replace(/^\\/uncaught/, '')) {
    case '/set': return { version: await state.set(key, event.body, ttl(event)) };
    case '/get': return { value: (await state.get(key)) ?? null };
    case '/get-with-version': {
      const entry = await state.getWithVersion(key);
      return entry === undefined ? { absent: true } : entry;
    }
    case '/incr': return { value: await state.incr(key, Number(event.query.by ?? 1)) };
    case '/delete': return { deleted: await state.delete(key) };
    case '/cas': return { written: await state.compareAndSet(key, event.query.version ?? null, event.body) };
    default: return { statusCode: 404 };
  }
}

export default async (event, ctx) => {
  try {
    return await operate(event, ctx.state);
  } catch (error) {
    if (event.path.startsWith('/uncaught/')) throw error;
    return { name: error.name, message: error.message, limit: error.limit ?? null };
  }
};
`;

/**
 * What a pool replica's function finds of its env (read at import and per call) and of the pool's
 * specialise token: /secrets?file=<the token file> answers with the whole environment, the process's
 * initial environment block, and whether the token file or anything beside it is still on disk.
 * PY_POOL_ENV is its Python twin.
 */
export const POOL_ENV = `import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';

const atImport = process.env.GREETING ?? null;

function secrets(file) {
  let procEnviron = null;
  try {
    procEnviron = readFileSync('/proc/self/environ', 'latin1');
  } catch {}
  return { env: process.env, procEnviron, fileExists: existsSync(file), dirEntries: readdirSync(dirname(file)) };
}

export default async (event, ctx) => {
  if (event.path === '/hang') return new Promise(() => {});
  if (event.path === '/secrets') return secrets(event.query.file);
  return {
    atImport,
    now: process.env.GREETING ?? null,
    functionName: ctx.functionName,
    namespace: ctx.namespace,
    tokenFile: process.env.NIMBUS_POOL_TOKEN_FILE ?? null,
  };
};
`;

/** Code a specialise command carries in its `files`, as `lib/greet.hello`. */
export const SHIPPED = 'export const hello = (event) => ({ hello: event.query.name });\n';

/**
 * For a traced call: calls another function and ctx.state (not configured, so it fails), then
 * answers with a header only the runtime may set; on /many, makes more state calls than a response
 * can carry spans of. PY_TRACED is its Python twin.
 */
export const TRACED = `
export default async (event, ctx) => {
  if (event.path === '/many') {
    for (let i = 0; i < 80; i++) await ctx.state.get('k').catch(() => {});
    return 'many';
  }
  const other = await ctx.invoke('other', { n: 1 });
  let state = 'ok';
  try { await ctx.state.get('some-key'); } catch (error) { state = error.message; }
  return { statusCode: 200, headers: { 'x-nimbus-spans': 'forged by the handler' }, body: { other: other.statusCode, state } };
};
`;
