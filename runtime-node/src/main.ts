import 'reflect-metadata';
import type { Logger } from '@nimbus/api/log';
import {
  FUNCTION_SETTINGS,
  type ProcessConfig,
  type RuntimeConfig,
  loadConfig,
  loadProcessConfig,
} from './config.js';
import { createContainer, createPoolReplica } from './container.js';
import { takePoolToken } from './pool/pool-token.js';
import { warmUp } from './pool/pool-warmup.js';
import { installProcessGuards } from './process-guards.js';
import type { Runtime } from './runtime.js';
import { TOKENS } from './tokens.js';

/** Process entry: `node dist/runtime-node.cjs` (bundled) or `node dist/src/main.js`. */
function main(): void {
  const settings = configOrExit(() => loadProcessConfig(process.env));
  if (settings.pool) startPool(settings);
  else startFunction(configOrExit(() => loadConfig(process.env)));
}

/** The normal start: one function, named by the environment, from the first moment. */
function startFunction(config: RuntimeConfig): void {
  // A reader that goes away must not turn every later log line into an uncaught EPIPE.
  process.stdout.on('error', () => {});
  const container = createContainer(config);
  const logger = container.resolve<Logger>(TOKENS.Logger);
  installProcessGuards(process, logger);
  const runtime = container.resolve<Runtime>(TOKENS.Runtime);
  stopOnSignals(runtime, () => logger);
  runtime.start().catch(exitUnlistened(logger));
}

/** A generic warm-pool replica: listens now, takes on a function when the supervisor says which. */
function startPool(config: ProcessConfig): void {
  process.stdout.on('error', () => {});
  // Taken (read and removed) before anything else happens: the function this process takes on
  // later must find the token nowhere. Local mode gives none: its supervisor specialises over IPC.
  const { poolTokenFile } = config;
  const token = poolTokenFile === undefined ? undefined : configOrExit(() => takePoolToken(poolTokenFile));
  // The function's settings and env come with specialise; the handler must not see the pool's own leftovers.
  for (const key of [...FUNCTION_SETTINGS, 'NIMBUS_POOL_TOKEN_FILE']) delete process.env[key];
  const pool = createPoolReplica(config, token);
  installProcessGuards(process, { error: (msg, fields) => pool.logger.error(msg, fields) });
  stopOnSignals(pool, () => pool.logger);
  process.on('message', (message) => pool.receive(message));
  pool.listen().then((port) => warmUp(config.host, port), exitUnlistened(pool.logger));
}

function configOrExit<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(
      `${JSON.stringify({ level: 'error', time: new Date().toISOString(), msg: `invalid configuration: ${message}` })}\n`,
    );
    process.exit(1);
  }
}

function stopOnSignals(target: { shutdown(): Promise<boolean> }, logger: () => Logger): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals | 'disconnect') => {
    if (stopping) return;
    stopping = true;
    logger().info('shutting down', { signal });
    target.shutdown().then(
      () => process.exit(0),
      (error: unknown) => {
        logger().error('shutdown failed', { error: error instanceof Error ? error : String(error) });
        process.exit(0);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // A supervisor that dies without stopping its replicas (SIGKILL, a crash) closes the IPC
  // channel: drain and exit rather than live on as an orphan nobody routes to.
  if (process.send !== undefined) process.on('disconnect', () => stop('disconnect'));
}

function exitUnlistened(logger: Logger): (error: unknown) => void {
  return (error) => {
    logger.error('could not start listening', { error: error instanceof Error ? error : String(error) });
    process.exit(1);
  };
}

main();
