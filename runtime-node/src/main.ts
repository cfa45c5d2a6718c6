import 'reflect-metadata';
import { loadConfig } from './config.js';
import { createContainer } from './container.js';
import type { Logger } from './logger.js';
import { installProcessGuards } from './process-guards.js';
import type { Runtime } from './runtime.js';
import { TOKENS } from './tokens.js';

/** Process entry: `node dist/runtime-node.cjs` (bundled) or `node dist/src/main.js`. */
function main(): void {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(
      `${JSON.stringify({ level: 'error', time: new Date().toISOString(), msg: `invalid configuration: ${message}` })}\n`,
    );
    process.exit(1);
  }
  // A reader that goes away must not turn every later log line into an uncaught EPIPE.
  process.stdout.on('error', () => {});
  const container = createContainer(config);
  const logger = container.resolve<Logger>(TOKENS.Logger);
  installProcessGuards(process, logger);
  const runtime = container.resolve<Runtime>(TOKENS.Runtime);

  let stopping = false;
  const stop = (signal: NodeJS.Signals | 'disconnect') => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    runtime.shutdown().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error('shutdown failed', { error: error instanceof Error ? error : String(error) });
        process.exit(0);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // A supervisor that dies without stopping its replicas (SIGKILL, a crash) closes the IPC
  // channel: drain and exit rather than live on as an orphan nobody routes to.
  if (process.send !== undefined) process.on('disconnect', () => stop('disconnect'));

  runtime.start().catch((error: unknown) => {
    logger.error('could not start listening', { error: error instanceof Error ? error : String(error) });
    process.exit(1);
  });
}

main();
