import 'reflect-metadata';
import { createLogger } from '@nimbus/api';
import { ControllerMetrics } from '@nimbus/controller/reconcile/controller-metrics';
import { type Gateway, TOKENS, createGatewayContainer, loadGatewayConfig } from '@nimbus/gateway';
import { Registry } from 'prom-client';

/** The sample names one family gives, from its `# TYPE` line: a histogram's buckets, sum and count. */
function sampleNames(name: string, type: string): string[] {
  if (type === 'histogram') return [`${name}_bucket`, `${name}_sum`, `${name}_count`];
  if (type === 'summary') return [name, `${name}_sum`, `${name}_count`];
  return [name];
}

/** Every sample name a classic exposition declares, whether or not it has series yet. */
export function declaredSamples(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const [, name = '', type = ''] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm))
    for (const sample of sampleNames(name, type)) names.add(sample);
  return names;
}

/**
 * The sample names a gateway and a controller export: a gateway composed as its process composes
 * it (with NATS and Redis configured, so its dependency gauge is there; nothing connects before
 * use), and the controller's metrics on a registry of their own.
 */
export async function exportedSamples(): Promise<Set<string>> {
  const config = loadGatewayConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    NIMBUS_NATS_URL: 'nats://127.0.0.1:1',
    NIMBUS_REDIS_URL: 'redis://127.0.0.1:1',
  });
  const gatewayRegistry = new Registry();
  const gateway = createGatewayContainer(config, {
    registry: gatewayRegistry,
    logger: createLogger({}, 'error', () => {}),
  }).resolve<Gateway>(TOKENS.Gateway);
  const controllerRegistry = new Registry();
  new ControllerMetrics(controllerRegistry);
  try {
    const [gatewayText, controllerText] = await Promise.all([
      gatewayRegistry.metrics(),
      controllerRegistry.metrics(),
    ]);
    return new Set([...declaredSamples(gatewayText), ...declaredSamples(controllerText)]);
  } finally {
    await gateway.close();
  }
}
