import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { pythonRuntimeEntryPath } from '@nimbus/runtime-python';

/**
 * Runs `expression` (over `items`, bound as `item`) in runtime-python's modules, in one python3
 * process; one JSON result per item. How the tests hold a decision runtime-python ports against
 * runtime-node's own.
 */
export function inPython(imports: string, expression: string, items: readonly unknown[]): unknown[] {
  const script = [
    'import json, sys',
    `sys.path.insert(0, ${JSON.stringify(path.dirname(pythonRuntimeEntryPath()))})`,
    imports,
    `print(json.dumps([${expression} for item in json.load(sys.stdin)]))`,
  ].join('\n');
  return JSON.parse(
    execFileSync('python3', ['-c', script], {
      input: JSON.stringify(items),
      maxBuffer: 64 * 1024 * 1024,
    }).toString('utf8'),
  );
}
