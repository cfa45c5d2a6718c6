// The real gateway, in a process of its own as in production, with one static route: `hello` in
// the default namespace → the replicas on 127.0.0.1:<argv[2..]>. Redis and NATS come from
// NIMBUS_REDIS_URL and NIMBUS_NATS_URL, as for any gateway (in memory without them). It reports
// its port to the parent over IPC as {type:'listening', port} and exits when the parent goes away.
// It watches its own event-loop delay and GC pauses, reported when the parent asks (stall-monitor.ts).
// With --functions=N it also holds N other Functions; with --routes as well, each has a route of
// its own (/api/v1/svc-<i>/items/{id}) and hello the route /api/v1/hello/{who}: route matching's
// cost, apart from the cost of holding N Functions. With --versions=<port>, hello keeps versions
// as status.traffic would leave it: 90 % to v1 (the replicas named last) and 10 % to v2 (the
// replica on <port>), each a route of its own: what sharing calls between versions costs.
//   node bench/dist/src/gateway-static.js [--functions=N [--routes]] [--versions=<port>] <replica-port>...
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
  const args = process.argv.slice(2);
  const others = Number(args.find((a) => a.startsWith('--functions='))?.slice('--functions='.length) ?? 0);
  const upstreams = ports(args.filter((a) => !a.startsWith('--')));
  const versionPort = args.find((a) => a.startsWith('--versions='))?.slice('--versions='.length);
  const config = loadGatewayConfig({ ...process.env, HOST: '127.0.0.1', PORT: '0' });
  const routes = new RouteTable();
  routes.upsert(ROUTE);
  if (versionPort === undefined)
    routes.setEndpoints(
      ROUTE.namespace,
      ROUTE.name,
      upstreams.map((port, i) => ({ id: `replica-${i}`, host: '127.0.0.1', port })),
    );
  else addVersions(routes, upstreams, ports([versionPort])[0] as number);
  if (others > 0) addFunctions(routes, others, args.includes('--routes'));
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

/** hello as a versioned Function: v1 on `v1Ports` with 90 % of calls, v2 on `v2Port` with 10 %. */
function addVersions(routes: RouteTable, v1Ports: readonly number[], v2Port: number): void {
  const versions: [string, readonly number[]][] = [
    ['v1', v1Ports],
    ['v2', [v2Port]],
  ];
  for (const [version, at] of versions) {
    const name = `${ROUTE.name}@${version}`;
    routes.upsert({ ...ROUTE, name });
    routes.setEndpoints(
      ROUTE.namespace,
      name,
      at.map((port, i) => ({ id: `${version}-${i}`, host: '127.0.0.1', port })),
    );
  }
  routes.versions.set(`${ROUTE.namespace}/${ROUTE.name}`, [
    { version: 'v1', percent: 90 },
    { version: 'v2', percent: 10 },
  ]);
}

/** `count` more Functions, as many informer events would leave them; `withRoutes`: a route each, and hello's. */
function addFunctions(routes: RouteTable, count: number, withRoutes: boolean): void {
  const created = '2026-01-01T00:00:00Z';
  for (let i = 0; i < count; i++) {
    const name = `svc-${i}`;
    routes.upsert({ ...ROUTE, name });
    if (withRoutes)
      routes.http.set(`default/${name}`, created, [{ path: `/api/v1/${name}/items/{id}`, methods: ['GET'] }]);
  }
  if (!withRoutes) return;
  routes.http.set('default/hello', created, [{ path: '/api/v1/hello/{who}', methods: ['GET'] }]);
  if (routes.http.size !== count + 1) throw new Error(`${routes.http.size} routes served, not ${count + 1}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`gateway-static: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
