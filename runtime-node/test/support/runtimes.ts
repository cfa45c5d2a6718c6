import { KITCHEN_SINK, POOL_ENV, SHIPPED, STATE, THROWS_ON_LOAD, TRACED } from './fixtures.js';
import { writeFunctionDir } from './function-dir.js';
import {
  PY_KITCHEN_SINK,
  PY_POOL_ENV,
  PY_SHIPPED,
  PY_SHIPPED_SYNC,
  PY_STATE,
  PY_THROWS_ON_LOAD,
  PY_TRACED,
} from './python-fixtures.js';
import { type Launcher, RuntimeProcess, nodeLauncher, pythonLauncher } from './runtime-process.js';

/** A function for a runtime: its files, and the settings that name its handler. */
export interface FunctionSource {
  readonly files: Readonly<Record<string, string>>;
  readonly env: Readonly<Record<string, string>>;
}

/**
 * One runtime the process-level suites run against: how to start a replica of it (as local mode
 * does), and the same fixtures written for it. A suite written against this runs unchanged on each.
 */
export interface RuntimeUnderTest {
  /** Shown in the suite's title. */
  readonly name: string;
  readonly language: 'node' | 'python';
  /** Python runs an `async def` on the event loop and a plain `def` on a thread of its own. */
  readonly handlerKind: 'async' | 'sync';
  readonly launcher: Launcher;
  /** How long a replica may take from spawn to `ready`. */
  readonly startTimeoutMs: number;
  /** The kitchen-sink handler (see KITCHEN_SINK): one route per behaviour. */
  readonly kitchenSink: FunctionSource;
  /** The ctx.state handler (see STATE). */
  readonly state: FunctionSource;
  /** What a pool replica's function finds of its env and of the pool token (see POOL_ENV). */
  readonly poolEnv: FunctionSource;
  /** Code a specialise command carries in `files`; its handler answers `{ hello: <query name> }`. */
  readonly shipped: FunctionSource;
  /** The handler for a traced call (see TRACED). */
  readonly traced: FunctionSource;
  /** A module that throws as it loads, and the reason the runtime reports for it. */
  readonly throwsOnLoad: FunctionSource & { readonly reason: string };
  /** What the log line for a handler's `boom from handler` error carries as its stack. */
  readonly thrownStack: RegExp;
}

export const nodeRuntime: RuntimeUnderTest = {
  name: 'bundled runtime',
  language: 'node',
  handlerKind: 'async',
  launcher: nodeLauncher,
  startTimeoutMs: 5_000,
  kitchenSink: { files: { 'index.mjs': KITCHEN_SINK }, env: {} },
  state: { files: { 'index.mjs': STATE }, env: {} },
  poolEnv: { files: { 'index.mjs': POOL_ENV }, env: {} },
  shipped: { files: { 'lib/greet.mjs': SHIPPED }, env: { NIMBUS_HANDLER: 'lib/greet.hello' } },
  traced: { files: { 'index.mjs': TRACED }, env: {} },
  throwsOnLoad: {
    files: { 'index.mjs': THROWS_ON_LOAD },
    env: {},
    reason: 'handler module index.mjs failed to load: cannot start: DATABASE_URL is not set',
  },
  thrownStack: /boom from handler\n\s+at /,
};

/** python3 is whatever PATH finds first, a version manager's shim (half a second more) included. */
const PYTHON_START_TIMEOUT_MS = 15_000;
const PYTHON_STACK = /File ".*main\.py", line \d+, in common\n[\s\S]*RuntimeError: boom from handler/;

export const pythonAsyncRuntime: RuntimeUnderTest = {
  name: 'python runtime, async handler',
  language: 'python',
  handlerKind: 'async',
  launcher: pythonLauncher,
  startTimeoutMs: PYTHON_START_TIMEOUT_MS,
  kitchenSink: { files: { 'main.py': PY_KITCHEN_SINK }, env: { NIMBUS_HANDLER: 'main.handle' } },
  state: { files: { 'main.py': PY_STATE }, env: { NIMBUS_HANDLER: 'main.handle' } },
  poolEnv: { files: { 'main.py': PY_POOL_ENV }, env: { NIMBUS_HANDLER: 'main.handle' } },
  shipped: { files: { 'lib/greet.py': PY_SHIPPED }, env: { NIMBUS_HANDLER: 'lib/greet.hello' } },
  traced: { files: { 'main.py': PY_TRACED }, env: { NIMBUS_HANDLER: 'main.handle' } },
  throwsOnLoad: {
    files: { 'main.py': PY_THROWS_ON_LOAD },
    env: { NIMBUS_HANDLER: 'main.handle' },
    reason: 'handler module main.py failed to load: cannot start: DATABASE_URL is not set',
  },
  thrownStack: PYTHON_STACK,
};

export const pythonSyncRuntime: RuntimeUnderTest = {
  ...pythonAsyncRuntime,
  name: 'python runtime, sync handler',
  handlerKind: 'sync',
  kitchenSink: { ...pythonAsyncRuntime.kitchenSink, env: { NIMBUS_HANDLER: 'main.handle_sync' } },
  state: { ...pythonAsyncRuntime.state, env: { NIMBUS_HANDLER: 'main.handle_sync' } },
  poolEnv: { ...pythonAsyncRuntime.poolEnv, env: { NIMBUS_HANDLER: 'main.handle_sync' } },
  shipped: { ...pythonAsyncRuntime.shipped, files: { 'lib/greet.py': PY_SHIPPED_SYNC } },
  traced: { ...pythonAsyncRuntime.traced, env: { NIMBUS_HANDLER: 'main.handle_sync' } },
};

/** Every runtime the shared suites run against. */
export const RUNTIMES: readonly RuntimeUnderTest[] = [nodeRuntime, pythonAsyncRuntime, pythonSyncRuntime];

/**
 * A replica of `subject` serving `source` from a fresh function directory (removeFunctionDirs cleans
 * up), waited for as RuntimeProcess.start waits: `listening`, then `ready` or `load-failed`.
 */
export function startRuntime(
  subject: RuntimeUnderTest,
  source: FunctionSource,
  env: Record<string, string> = {},
): Promise<RuntimeProcess> {
  return RuntimeProcess.start({ ...functionEnv(source), ...env }, subject.startTimeoutMs, subject.launcher);
}

/** The settings that point a runtime at `source`, written to a fresh function directory. */
export function functionEnv(source: FunctionSource): Record<string, string> {
  return { NIMBUS_FUNCTION_DIR: writeFunctionDir(source.files), ...source.env };
}

/** A generic pool replica (NIMBUS_POOL=1) of `subject`, waited for until it reports its port. */
export function startPool(
  subject: RuntimeUnderTest,
  env: Record<string, string> = {},
): Promise<RuntimeProcess> {
  return RuntimeProcess.startPool(env, subject.startTimeoutMs, subject.launcher);
}
