import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from '@nimbus/api/log';
import {
  ConfigError,
  type FunctionConfig,
  PROCESS_SETTINGS,
  type ProcessConfig,
  type RuntimeConfig,
  loadFunctionConfig,
} from '../config.js';
import { NOT_SPECIALISED, NotSpecialisedError, errorResponse } from '../http/http-errors.js';
import { declaresBody } from '../http/read-body.js';
import type { ReadinessReport } from '../http/readiness.js';
import { writeError, writeSystemReply } from '../http/response-writer.js';
import type { SpecialiseRoute } from '../http/runtime-server.js';
import { SPECIALISE_PATH, isSystemPath, systemReply } from '../http/system-routes.js';
import type { LoadState } from '../invoke/handler-slot.js';
import { Gauge, MetricsRegistry } from '../metrics/metrics.js';
import type { SupervisorChannel } from '../supervisor-channel.js';
import { SpecialiseEndpoint, type SpecialiseOutcome, type Specialiser } from './specialise-endpoint.js';
import { SpecialiseInputError, functionEnv } from './specialise-env.js';
import { functionFiles, writeFunctionFiles } from './specialise-files.js';

/** The function's side of a specialised replica: its runtime and its logger. */
export interface FunctionRuntime {
  readonly logger: Logger;
  /** Loads the handler and reports `ready` or `load-failed` to the supervisor. */
  load(): Promise<LoadState>;
  shutdown(): Promise<boolean>;
}

/**
 * Builds the function's runtime around the pool replica's listening server, with `route` answering
 * later specialise requests: the composition root's job (src/container.ts).
 */
export type ComposeFunction = (config: RuntimeConfig, route: SpecialiseRoute) => FunctionRuntime;

type Phase =
  | { readonly name: 'generic' }
  | { readonly name: 'specialised'; readonly functionName: string; readonly fn: FunctionRuntime }
  | { readonly name: 'stopping' };

const UNSPECIALISED: ReadinessReport = Object.freeze({ status: 'unspecialised', reason: NOT_SPECIALISED });
const PROCESS_KEYS: ReadonlySet<string> = new Set(PROCESS_SETTINGS);

/**
 * A generic replica of a warm pool (NIMBUS_POOL=1). It starts with everything but a function:
 * modules loaded, server listening, port reported. Until a supervisor sends `specialise` (IPC, or
 * `POST /_/specialise` with the pool token in a pod) it answers /_/health, /_/ready 503 and every invocation 503 NotSpecialised;
 * then it takes on that function for the rest of its life: the function's env goes into
 * `process.env`, the function's runtime takes over the server, and the handler loads.
 */
export class PoolReplica implements Specialiser {
  private phase: Phase = { name: 'generic' };
  private readonly endpoint: SpecialiseEndpoint;
  private readonly metrics = new MetricsRegistry();
  private readonly onRequest = (req: IncomingMessage, res: ServerResponse) => this.serve(req, res);

  constructor(
    private readonly config: ProcessConfig,
    /** What `POST /_/specialise` needs as a Bearer token; undefined: specialise over IPC only. */
    poolToken: string | undefined,
    private readonly server: Server,
    private readonly supervisor: SupervisorChannel,
    private readonly poolLogger: Logger,
    /** Where the function's env lands: `process.env`, except in tests. */
    private readonly environment: Record<string, string | undefined>,
    private readonly compose: ComposeFunction,
  ) {
    this.endpoint = new SpecialiseEndpoint(poolToken, this, poolLogger);
    server.on('request', this.onRequest);
    this.metrics.register(
      new Gauge('nimbus_runtime_handler_loaded', '1 once the function handler is loaded, else 0.', () => 0),
    );
  }

  /** The function's logger once there is one. */
  get logger(): Logger {
    return this.phase.name === 'specialised' ? this.phase.fn.logger : this.poolLogger;
  }

  get refusal(): string | undefined {
    if (this.phase.name === 'specialised') {
      return `this replica has taken on function ${this.phase.functionName}; a process serves one function for life`;
    }
    return this.phase.name === 'stopping' ? 'this replica is shutting down' : undefined;
  }

  /** Binds the port and reports it; rejects only if the port cannot be bound. */
  listen(): Promise<number> {
    const { server } = this;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: this.config.port, host: this.config.host }, () => {
        server.off('error', reject);
        server.on('error', (error) => this.logger.error('http server error', { error }));
        const { port } = server.address() as AddressInfo;
        this.supervisor.send({ type: 'listening', port });
        this.poolLogger.info('listening', { port, pool: true, startupMs: Math.round(performance.now()) });
        resolve(port);
      });
    });
  }

  /** A message from the supervisor over IPC; anything but `specialise` is ignored. */
  receive(message: unknown): void {
    if (!isSpecialiseCommand(message)) {
      // ctx.state's replies are for its own listener.
      if (typeOf(message) !== 'state-result')
        this.logger.debug('ignored a supervisor message', { type: typeOf(message) });
      return;
    }
    const outcome = this.specialise(message.env, (message as { files?: unknown }).files);
    if (outcome.kind === 'invalid') {
      this.supervisor.send({
        type: 'specialise-refused',
        reason: `invalid configuration: ${outcome.reason}`,
      });
    } else if (outcome.kind === 'refused') {
      this.supervisor.send({ type: 'specialise-refused', reason: outcome.reason });
    }
  }

  /**
   * Takes on the function `input` describes, or says why not. The settings are checked before
   * anything changes, so invalid ones leave the replica generic; accepted, the handler loads in the
   * background and the supervisor hears `ready` or `load-failed` as after a normal start.
   */
  specialise(input: unknown, files?: unknown): SpecialiseOutcome {
    const refusal = this.refusal;
    if (refusal !== undefined) {
      this.logger.warn('specialise refused', { reason: refusal });
      return { kind: 'refused', reason: refusal };
    }
    const started = performance.now();
    let env: Readonly<Record<string, string>>;
    let settings: FunctionConfig;
    try {
      env = functionEnv(input);
      if (files !== undefined) {
        // The code came with the command (a pool pod has no volume of its own): it is written out
        // and the function's folder is where it lands, whatever the env said.
        const code = functionFiles(files);
        env = Object.freeze({ ...env, NIMBUS_FUNCTION_DIR: writeFunctionFiles(code) });
      }
      settings = loadFunctionConfig(env);
    } catch (error) {
      const field =
        error instanceof SpecialiseInputError
          ? error.field
          : error instanceof ConfigError
            ? error.key
            : undefined;
      if (field === undefined || !(error instanceof Error)) throw error;
      this.poolLogger.warn('specialise refused: invalid configuration', { field, reason: error.message });
      return { kind: 'invalid', field, reason: error.message };
    }
    // From here on this process belongs to the function. Its env is in place before its code loads.
    const ignored: string[] = [];
    for (const [name, value] of Object.entries(env)) {
      if (PROCESS_KEYS.has(name)) ignored.push(name);
      else this.environment[name] = value;
    }
    const fn = this.compose(Object.freeze({ ...this.config, ...settings }), this.endpoint);
    this.server.off('request', this.onRequest);
    this.phase = { name: 'specialised', functionName: settings.functionName, fn };
    fn.logger.info('specialising', ignored.length === 0 ? {} : { ignored });
    void fn.load().then((state) => {
      fn.logger.info('specialised', {
        status: state.status,
        specialiseMs: Math.round((performance.now() - started) * 10) / 10,
      });
    });
    return { kind: 'accepted' };
  }

  /** Before a function: stop at once, there is nothing to drain. After: the function's drain. */
  async shutdown(): Promise<boolean> {
    if (this.phase.name === 'specialised') return this.phase.fn.shutdown();
    this.phase = { name: 'stopping' };
    this.server.close(() => {});
    this.server.closeAllConnections();
    return true;
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const queryStart = url.indexOf('?');
    const path = queryStart === -1 ? url : url.slice(0, queryStart);
    const stopping = this.phase.name === 'stopping';
    if (path === SPECIALISE_PATH) {
      // Node has sent 100 Continue itself: nothing listens for 'checkContinue' in this phase.
      this.endpoint.serve(req, res, { close: stopping, expectsContinue: false });
      return;
    }
    if (isSystemPath(path)) {
      const reply = systemReply(req.method ?? 'GET', path, {
        report: () => UNSPECIALISED,
        renderMetrics: () => this.metrics.render(),
      });
      writeSystemReply(res, reply, { invocationId: undefined, close: stopping });
      return;
    }
    this.poolLogger.debug('invocation refused: not specialised', { path });
    writeError(res, errorResponse(new NotSpecialisedError(), undefined, false), {
      invocationId: undefined,
      // The body is never read, and cannot be skipped safely.
      close: stopping || declaresBody(req.headers),
    });
  }
}

function isSpecialiseCommand(message: unknown): message is { type: 'specialise'; env: unknown } {
  return (
    typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'specialise'
  );
}

function typeOf(message: unknown): unknown {
  return typeof message === 'object' && message !== null
    ? (message as { type?: unknown }).type
    : typeof message;
}
