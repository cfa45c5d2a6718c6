import { writeFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FunctionResource, createLogger } from '@nimbus/api';
import { type Gateway, TOKENS, createGatewayContainer, loadGatewayConfig } from '@nimbus/gateway';
import { stateToken } from '@nimbus/store';
import type { Registry } from 'prom-client';
import { type RuntimeReplica, startRuntimeReplica } from '../harness/runtime-replica.js';

/** The platform's state key in these tests (the chart makes a random one). */
export const STATE_KEY = 'state-key-of-the-security-tests-0123456789';

/**
 * A function as an attacker writes it: ctx.state on HTTP, plus the ways around it a function
 * could try (talking to Redis itself, or to the state service with a hand-made request).
 */
export const ATTACKER = `import net from 'node:net';
import { readFileSync } from 'node:fs';

const ownToken = () => readFileSync(process.env.NIMBUS_STATE_TOKEN_FILE, 'utf8').trim();

/** RESP: one command as an array of bulk strings. */
const resp = (args) => '*' + args.length + '\\r\\n' + args.map((a) => '$' + Buffer.byteLength(a) + '\\r\\n' + a + '\\r\\n').join('');

/** Sends commands straight to Redis (no login: the function was given none) and returns the first reply line of each. */
function redis(port, commands) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const done = () => { socket.destroy(); resolve(text.split('\\r\\n').filter((l) => /^[-+:]/.test(l))); };
    socket.on('connect', () => socket.write(commands.map(resp).join('')));
    socket.on('data', (d) => { text += d; if (text.split('\\r\\n').filter((l) => /^[-+:]/.test(l)).length >= commands.length) done(); });
    socket.on('error', (e) => { text += '-SOCKET ' + e.code + '\\r\\n'; done(); });
    setTimeout(done, 5000);
  });
}

export default async (event, ctx) => {
  const q = event.query;
  switch (event.path) {
    case '/ping': return { pong: true };
    case '/get': return { value: (await ctx.state.get(q.key)) ?? null };
    case '/set': return { version: await ctx.state.set(q.key, 'x'.repeat(Number(q.size ?? 1))) };
    case '/incr': return { value: await ctx.state.incr(q.key) };
    case '/delete': return { deleted: await ctx.state.delete(q.key) };
    case '/redis': {
      const started = Date.now();
      const replies = await redis(Number(q.port), [['EVAL', 'while true do end', '0'], ['SCRIPT', 'KILL'], ['CONFIG', 'SET', 'maxmemory', '0']]);
      return { replies, ms: Date.now() - started };
    }
    case '/raw': {
      // A request to the state service built by hand: any identity, any token, any body size.
      const token = q.token === 'own' ? ownToken() : (q.token ?? '');
      const body = q.size === undefined
        ? JSON.stringify({ key: q.key ?? 'k', value: q.value ?? 1 })
        : '{"key":"big","value":"' + 'x'.repeat(Number(q.size)) + '"}';
      const res = await fetch(process.env.NIMBUS_STATE_URL + '/v1/state/' + q.op, {
        method: 'POST',
        headers: { authorization: 'Bearer ' + token, 'x-nimbus-function': q.as, 'content-type': 'application/json' },
        body,
      }).catch((e) => ({ status: 0, text: async () => JSON.stringify({ error: String(e.cause?.code ?? e) }) }));
      return { status: res.status, body: JSON.parse(await res.text()) };
    }
  }
  return { statusCode: 404, body: 'no such route' };
};
`;

export const fnResource = (
  name: string,
  state: FunctionResource['spec']['state'],
  code = ATTACKER,
): FunctionResource =>
  ({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name, namespace: 'team' },
    spec: {
      runtime: 'node20',
      handler: 'index.default',
      source: { inline: code },
      timeout: '30s',
      concurrency: 10,
      scale: { min: 1, max: 1 },
      http: { auth: 'none' },
      state,
    },
  }) as unknown as FunctionResource;

export interface StateGateway {
  readonly gateway: Gateway;
  /** The gateway's metrics. */
  readonly registry: Registry;
  /** The public port's base URL. */
  readonly publicUrl: string;
  /** The state service's base URL (an internal port). */
  readonly stateUrl: string;
  close(): Promise<void>;
}

/** A real gateway on Redis, with its state service on a port of its own, serving these Functions. */
export async function startStateGateway(
  redisUrl: string,
  functions: FunctionResource[],
): Promise<StateGateway> {
  const config = loadGatewayConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    NIMBUS_REDIS_URL: redisUrl,
    NIMBUS_STATE_PORT: '0',
    NIMBUS_STATE_HOST: '127.0.0.1',
    NIMBUS_STATE_KEY: STATE_KEY,
  });
  const byName = new Map(functions.map((f) => [`${f.metadata.namespace}/${f.metadata.name}`, f]));
  const container = createGatewayContainer(config, {
    directory: { list: () => [...byName.values()], get: (ns, name) => byName.get(`${ns}/${name}`) },
    logger: createLogger({ component: 'gateway' }, 'error'),
  });
  const gateway = container.resolve<Gateway>(TOKENS.Gateway);
  const address = await gateway.listen();
  let closing: Promise<void> | undefined;
  const state = gateway.stateService?.address();
  if (state === undefined) throw new Error('the gateway did not start its state service');
  return {
    gateway,
    registry: container.resolve<Registry>(TOKENS.Registry),
    publicUrl: `http://127.0.0.1:${address.port}`,
    stateUrl: `http://127.0.0.1:${state.port}`,
    // Once, however often it is called: a test may take the gateway away before the suite ends.
    close: () => {
      closing ??= gateway.close(0);
      return closing;
    },
  };
}

/** A runtime replica of `name` in namespace `team`, holding its token in a file as a pod does (no Redis URL, no password). */
export async function startStateReplica(stateUrl: string, name: string): Promise<RuntimeReplica> {
  const dir = await mkdtemp(join(tmpdir(), 'nimbus-state-token-'));
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, stateToken(STATE_KEY, 'team', name));
  const replica = await startRuntimeReplica({
    host: '127.0.0.1',
    code: ATTACKER,
    name,
    namespace: 'team',
    env: { NIMBUS_STATE_URL: stateUrl, NIMBUS_STATE_TOKEN_FILE: tokenFile },
  });
  return {
    ...replica,
    async stop() {
      await replica.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
