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

/** A temporary function directory holding the hello handler as index.mjs (NIMBUS_HANDLER=index.default). */
export async function writeHelloFunction(): Promise<FunctionDir> {
  const dir = await mkdtemp(path.join(tmpdir(), 'nimbus-bench-'));
  await writeFile(path.join(dir, 'index.mjs'), HELLO_SOURCE);
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
