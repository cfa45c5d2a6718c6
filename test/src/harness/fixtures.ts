import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A Function document with inline code, indented into YAML's block scalar. */
export function inlineFunction(name: string, code: string, spec = ''): string {
  const body = code
    .trim()
    .split('\n')
    .map((l) => `      ${l}`)
    .join('\n');
  return `apiVersion: nimbus.dev/v1alpha1
kind: Function
metadata:
  name: ${name}
spec:
${spec ? `${spec.replace(/^/gm, '  ')}\n` : ''}  source:
    inline: |
${body}
`;
}

/** A temporary functions folder holding the given files. */
export async function functionsFolder(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nimbus-functions-'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

/** test/fixtures: the container server the container-function tests run. */
export const CONTAINER_FIXTURES_DIR = fileURLToPath(new URL('../../../fixtures/', import.meta.url));

/**
 * A container Function running test/fixtures/container-server.py with python3, in local mode
 * (command and source.path); `spec` adds YAML lines under spec.
 */
export function containerFunction(name: string, spec = ''): string {
  return `apiVersion: nimbus.dev/v1alpha1
kind: Function
metadata:
  name: ${name}
spec:
  runtime: container
  command: [python3, container-server.py]
  source:
    path: ${JSON.stringify(CONTAINER_FIXTURES_DIR)}
${spec ? `${spec.replace(/^/gm, '  ')}\n` : ''}`;
}
