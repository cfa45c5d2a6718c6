import { createHash } from 'node:crypto';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { goBinary } from '../../src/harness/control-plane/assets.js';
import { type Progress, cacheDir, exists, sh } from './host.js';

/** How long a first build may take before it is given up. */
const BUILD_TIMEOUT_MS = 120 * 60_000;

/**
 * Builds a small Go module of the tests (CoreDNS, the NetworkPolicy controller, Jaeger) once per
 * machine into `~/.cache/nimbus/<name>-<version>-<hash>/<name>`: the version is the one `go.mod`
 * requires of `versionOf`, the hash is of the module's own files, so an edit rebuilds it.
 */
export async function goModuleBinary(options: {
  name: string;
  /** The module's directory (main.go, go.mod, go.sum). */
  moduleDir: string;
  /** The main dependency whose required version names the build. */
  versionOf: string;
  /** The package to build: the module's own main.go unless a dependency's command is named. */
  pkg?: string;
  /** The files whose hash names the build; main.go, go.mod and go.sum unless given. */
  files?: readonly string[];
  /** Roughly how long a first build takes, for the progress line. */
  expected: string;
  progress: Progress;
}): Promise<string> {
  const { name, moduleDir, progress } = options;
  const names = options.files ?? ['main.go', 'go.mod', 'go.sum'];
  const files = await Promise.all(names.map((f) => readFile(join(moduleDir, f))));
  const goMod = files[names.indexOf('go.mod')]?.toString('utf8') ?? '';
  const escaped = options.versionOf.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const version = new RegExp(`${escaped} (v[\\w.-]+)`).exec(goMod)?.[1] ?? 'unknown';
  const hash = createHash('sha256');
  for (const f of files) hash.update(f);
  const dir = cacheDir(`${name}-${version}-${hash.digest('hex').slice(0, 12)}`);
  const target = join(dir, name);
  if (await exists(target)) return target;
  await mkdir(dir, { recursive: true });
  progress(`building ${name} ${version} with Go (first run only; ${options.expected})…`);
  const started = Date.now();
  const partial = `${target}.partial-${process.pid}`;
  // At the lowest priority, like the Kubernetes builds: the tests beside it keep their CPU. At
  // that priority on a busy machine a first build took over half an hour (promtool, load 20), so
  // it gets longer than sh's default before it is given up.
  await sh('nice', ['-n', '19', await goBinary(), 'build', '-o', partial, options.pkg ?? '.'], {
    cwd: moduleDir,
    timeoutMs: BUILD_TIMEOUT_MS,
  });
  // A build cut short never leaves a binary later runs would trust.
  await rename(partial, target);
  progress(`built ${name} in ${Math.round((Date.now() - started) / 1000)} s`);
  return target;
}
