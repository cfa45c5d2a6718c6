import 'reflect-metadata';
import { loadLocalConfig } from './config.js';
import { startLocalMode } from './local-mode.js';

/** `npm start`: local mode. Exits 1 with the offending key named when the configuration is bad. */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadLocalConfig>;
  try {
    config = loadLocalConfig(process.env, process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`nimbus: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const mode = await startLocalMode(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`${JSON.stringify({ level: 'info', msg: 'stopping', signal })}\n`);
    mode.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`nimbus: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
