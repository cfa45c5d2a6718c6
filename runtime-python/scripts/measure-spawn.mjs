// Measures cold start: milliseconds from spawn to the first HTTP 200, for the Python runtime with a
// trivial handler and for a bare stdlib http.server as the floor, both under the same `python3`
// (PATH's first, or PYTHON). Not a test; nothing to build first:
//   node runtime-python/scripts/measure-spawn.mjs [runs]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const runs = Number(process.argv[2] ?? 20);
const python = process.env.PYTHON ?? 'python3';
const entry = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../run.py');
const functionDir = mkdtempSync(path.join(os.tmpdir(), 'nimbus-measure-'));
writeFileSync(path.join(functionDir, 'main.py'), "def handle(event, ctx):\n    return 'hello'\n");

// The floor: what `python3 -m http.server` costs, answering 200 with a body as the runtime does.
const BARE = `
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header('content-length', '2')
        self.end_headers()
        self.wfile.write(b'ok')

HTTPServer(('127.0.0.1', int(os.environ['PORT'])), Handler).serve_forever()
`;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function get(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function once(args, env) {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(python, args, {
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    const deadline = started + 10_000;
    while (performance.now() < deadline) {
      if ((await get(port)) === 200) return performance.now() - started;
      await sleep(2);
    }
    throw new Error(`no 200 within 10 s from ${python} ${args.join(' ')}`);
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function report(label, samples) {
  const fmt = (n) => n.toFixed(1);
  console.log(
    `${label.padEnd(8)} median ${fmt(median(samples))} ms  (min ${fmt(Math.min(...samples))}, max ${fmt(Math.max(...samples))}, n=${samples.length})`,
  );
}

try {
  const runtime = [];
  const bare = [];
  // One unmeasured start each: compiles the runtime's .pyc files, as a first start after install would.
  await once([entry], { HOST: '127.0.0.1', NIMBUS_FUNCTION_DIR: functionDir });
  await once(['-c', BARE], {});
  // Interleaved, so drift in machine load affects both series alike.
  for (let i = 0; i < runs; i++) {
    runtime.push(await once([entry], { HOST: '127.0.0.1', NIMBUS_FUNCTION_DIR: functionDir }));
    bare.push(await once(['-c', BARE], {}));
  }
  report('runtime', runtime);
  report('bare', bare);
  console.log(`ratio    ${(median(runtime) / median(bare)).toFixed(2)}x (medians)`);
} finally {
  rmSync(functionDir, { recursive: true, force: true });
}
