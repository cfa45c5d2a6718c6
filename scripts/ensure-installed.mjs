#!/usr/bin/env node
// Runs before `npm start`, `npm test` and `npm run bench`, so that each works on a fresh clone
// as the README promises: it installs the locked dependencies when they are missing or when
// package-lock.json changed since the last install. Node built-ins only: nothing is installed yet.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 9)) {
  console.error(`nimbus needs Node.js 20.9 or later; this is ${process.version}`);
  process.exit(1);
}

const lock = readFileSync(join(root, 'package-lock.json'));
const digest = createHash('sha256').update(lock).digest('hex');
const stamp = join(root, 'node_modules', '.nimbus-installed');
if (existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) process.exit(0);

console.error('nimbus: installing the locked dependencies (npm ci)…');
execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
writeFileSync(stamp, digest);
