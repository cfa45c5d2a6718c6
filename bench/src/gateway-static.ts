// The real gateway, in a process of its own as in production, with one static route: `hello` in
// the default namespace → the replicas on 127.0.0.1:<argv[2..]>. Redis and NATS come from
// NIMBUS_REDIS_URL and NIMBUS_NATS_URL, as for any gateway (in memory without them). It reports
// its port to the parent over IPC as {type:'listening', port} and exits when the parent goes away.
// It watches its own event-loop delay and GC pauses, reported when the parent asks (stall-monitor.ts).
//   node bench/dist/src/gateway-static.js <replica-port>...
import 'reflect-metadata';
import { createLogger } from '@nimbus/api';
import { type Gateway, RouteTable, TOKENS, createGatewayContainer, loadGatewayConfig } from '@nimbus/gateway';
import { StallMonitor } from './stall-monitor.js';

const ROUTE = {
  name: 'hello',
  namespace: 'default',
  timeoutMs: 30_000,
  concurrency: 1000,
  auth: 'none',
} as const;

function ports(raw: readonly string[]): number[] {
  const parsed = raw.map(Number);
  if (parsed.length === 0 || parsed.some((p) => !Number.isInteger(p) || p < 1 || p > 65_535))
    throw new Error(`usage: gateway-static <replica-port>...; got ${JSON.stringify(raw)}`);
  return parsed;
}

async function main(): Promise<void> {
  const stalls = new StallMonitor();
  stalls.start();
  stalls.answerParent();
  const upstreams = ports(process.argv.slice(2));
  const config = loadGatewayConfig({ ...process.env, HOST: '127.0.0.1', PORT: '0' });
  const routes = new RouteTable();
  routes.upsert(ROUTE);
  routes.setEndpoints(
    ROUTE.namespace,
    ROUTE.name,
    upstreams.map((port, i) => ({ id: `replica-${i}`, host: '127.0.0.1', port })),
  );
  const server = createGatewayContainer(config, {
    routes,
    logger: createLogger({ component: 'gateway' }, 'warn', (line) => process.stderr.write(line)),
  }).resolve<Gateway>(TOKENS.Gateway);
  const address = await server.listen();
  const stop = () => {
    server.close(2_000).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.once('disconnect', stop);
  process.send?.({ type: 'listening', port: address.port });
}

main().catch((error: unknown) => {
  process.stderr.write(`gateway-static: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
