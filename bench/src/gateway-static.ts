// The real gateway, in a process of its own as in production, with one static route:
// `hello` in the default namespace → the replica on 127.0.0.1:<argv[2]>. It reports its port to the
// parent over IPC as {type:'listening', port} and exits when the parent goes away.
//   node bench/dist/src/gateway-static.js <replica-port>
import 'reflect-metadata';
import {
  GatewayServer,
  RouteTable,
  TOKENS,
  createGatewayContainer,
  loadGatewayConfig,
} from '@nimbus/gateway';

const ROUTE = {
  name: 'hello',
  namespace: 'default',
  timeoutMs: 30_000,
  concurrency: 1000,
  auth: 'none',
} as const;

function replicaPort(raw: string | undefined): number {
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new Error(`usage: gateway-static <replica-port>; got ${JSON.stringify(raw)}`);
  }
  return port;
}

async function main(): Promise<void> {
  const upstream = replicaPort(process.argv[2]);
  const config = loadGatewayConfig({ ...process.env, HOST: '127.0.0.1', PORT: '0' });
  const routes = new RouteTable();
  routes.upsert(ROUTE);
  routes.setEndpoints(ROUTE.namespace, ROUTE.name, [{ id: 'replica-0', host: '127.0.0.1', port: upstream }]);
  const server = createGatewayContainer(config, { routes }).resolve<GatewayServer>(TOKENS.Server);
  const address = await server.listen();
  const stop = () => {
    server.close().then(
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
