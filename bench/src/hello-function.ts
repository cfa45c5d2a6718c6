import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The inline module of examples/hello.yaml: GET /?name=Ada → "Hello, Ada!". */
const HELLO_SOURCE = `export default async function (event) {
  const name = typeof event.query.name === 'string' ? event.query.name : 'world';
  return \`Hello, \${name}!\\n\`;
}
`;

export interface FunctionDir {
  readonly dir: string;
  remove(): Promise<void>;
}

/** The same handler in Python (NIMBUS_HANDLER=main.handle). */
const HELLO_PYTHON_SOURCE = `def handle(event, ctx):
    name = event.query.get("name", "world")
    return f"Hello, {name}!\\n"
`;

/**
 * A temporary function directory holding the hello handler as index.mjs
 * (NIMBUS_HANDLER=index.default) and as main.py (main.handle).
 */
export async function writeHelloFunction(): Promise<FunctionDir> {
  const dir = await mkdtemp(path.join(tmpdir(), 'nimbus-bench-'));
  await writeFile(path.join(dir, 'index.mjs'), HELLO_SOURCE);
  await writeFile(path.join(dir, 'main.py'), HELLO_PYTHON_SOURCE);
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
