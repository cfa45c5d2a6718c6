import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pythonExecutable } from '@nimbus/local/process/spawn';
import { runtimeEntryPath } from '@nimbus/runtime-node/entry-path';
import { pythonRuntimeEntryPath } from '@nimbus/runtime-python';
import { reportedPort } from './child-ipc.js';
import type { Children } from './processes.js';

/** How to start one of the servers the benchmarks measure: `node <args>` with `env` added. */
export interface ServerCommand {
  readonly name: string;
  /** Another program than node (python3 for the Python rows). */
  readonly program?: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** Whether the server says `ready` after `listening` (only the runtime does). */
  readonly saysReady: boolean;
}

/**
 * The floor: a bare node:http server answering "ok". It reports its port over IPC when it has a
 * channel, like the runtime, and says nothing otherwise.
 */
const BARE_SERVER_SOURCE = `const server = require('node:http').createServer((req, res) => res.end('ok'));
server.listen(Number(process.env.PORT), '127.0.0.1', () => {
  if (process.send) process.send({ type: 'listening', port: server.address().port });
});`;

export function bareServer(port: number): ServerCommand {
  return {
    name: 'bare node:http',
    args: ['-e', BARE_SERVER_SOURCE],
    env: { PORT: String(port) },
    saysReady: false,
  };
}

export function runtimeReplica(functionDir: string, port: number): ServerCommand {
  return {
    name: 'runtime-node replica',
    args: [runtimeEntryPath()],
    env: {
      PORT: String(port),
      HOST: '127.0.0.1',
      NIMBUS_FUNCTION_DIR: functionDir,
      NIMBUS_HANDLER: 'index.default',
      NIMBUS_FUNCTION_NAME: 'hello',
    },
    saysReady: true,
  };
}

/** The Python floor: http.server answering "ok", the standard library's own, as bare as runtime-python's base. */
const BARE_PYTHON_SOURCE = `import os
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header('content-length', '2')
        self.end_headers()
        self.wfile.write(b'ok')
    def log_message(self, *args):
        pass
HTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()`;

export function barePython(port: number): ServerCommand {
  return {
    name: 'bare python http.server',
    program: pythonExecutable(),
    args: ['-c', BARE_PYTHON_SOURCE],
    env: { PORT: String(port) },
    saysReady: false,
  };
}

/** runtime-python with the hello handler of main.py. */
export function pythonReplica(functionDir: string, port: number): ServerCommand {
  return {
    name: 'runtime-python replica',
    program: pythonExecutable(),
    args: [pythonRuntimeEntryPath()],
    env: {
      PORT: String(port),
      HOST: '127.0.0.1',
      NIMBUS_FUNCTION_DIR: functionDir,
      NIMBUS_HANDLER: 'main.handle',
      NIMBUS_FUNCTION_NAME: 'hello',
    },
    saysReady: false,
  };
}

/** The real gateway in its own process, routing `hello` to the replica on `replicaPort`. */
export function staticGateway(
  replicaPort: number,
  env: Readonly<Record<string, string>> = {},
  /** Other Functions it holds, and whether each has a route of its own: route matching's cost. */
  others: { functions: number; routes: boolean } = { functions: 0, routes: false },
  /** hello keeps versions: 90 % to the replica on `replicaPort`, 10 % to the one on this port. */
  versionPort?: number,
): ServerCommand {
  return {
    name: 'gateway',
    args: [
      fileURLToPath(new URL('./gateway-static.js', import.meta.url)),
      ...(others.functions > 0 ? [`--functions=${others.functions}`] : []),
      ...(others.routes ? ['--routes'] : []),
      ...(versionPort === undefined ? [] : [`--versions=${versionPort}`]),
      String(replicaPort),
    ],
    env,
    saysReady: false,
  };
}

/** The floor for a Node proxy (minimal-proxy.ts) in front of the replica on `replicaPort`. */
export function minimalProxy(replicaPort: number): ServerCommand {
  return {
    name: 'minimal proxy',
    args: [fileURLToPath(new URL('./minimal-proxy.js', import.meta.url)), String(replicaPort)],
    env: {},
    saysReady: false,
  };
}

export interface RunningServer {
  readonly child: ChildProcess;
  readonly port: number;
}

/** Starts a server with an IPC channel and waits until it reports the port it listens on. */
export async function startServer(children: Children, command: ServerCommand): Promise<RunningServer> {
  const child = children.spawn(process.execPath, command.args, {
    env: { ...process.env, ...command.env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const port = await reportedPort(child, command.name, { awaitReady: command.saysReady, timeoutMs: 10_000 });
  return { child, port };
}
