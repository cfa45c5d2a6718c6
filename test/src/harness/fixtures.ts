import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
