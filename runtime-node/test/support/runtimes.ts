import { KITCHEN_SINK, STATE } from './fixtures.js';
import { writeFunctionDir } from './function-dir.js';
import { PY_KITCHEN_SINK, PY_STATE } from './python-fixtures.js';
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
  thrownStack: PYTHON_STACK,
};

export const pythonSyncRuntime: RuntimeUnderTest = {
  ...pythonAsyncRuntime,
  name: 'python runtime, sync handler',
  handlerKind: 'sync',
  kitchenSink: { ...pythonAsyncRuntime.kitchenSink, env: { NIMBUS_HANDLER: 'main.handle_sync' } },
  state: { ...pythonAsyncRuntime.state, env: { NIMBUS_HANDLER: 'main.handle_sync' } },
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
  return RuntimeProcess.start(
    { NIMBUS_FUNCTION_DIR: writeFunctionDir(source.files), ...source.env, ...env },
    subject.startTimeoutMs,
    subject.launcher,
  );
}
