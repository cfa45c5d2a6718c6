import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const created: string[] = [];

/** Writes a function directory (file name → source) under the OS temp dir. */
export function writeFunctionDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nimbus-fn-'));
  created.push(dir);
  for (const [name, source] of Object.entries(files)) {
    const file = path.join(dir, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, source);
  }
  return dir;
}

export function removeFunctionDirs(): void {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
}
