import { execFile } from 'node:child_process';
import { access, mkdir, rename } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The Kubernetes release the test control plane is built from; test/control-plane/go.mod pins it. */
export const KUBERNETES_VERSION = 'v1.37.2';

export interface ControlPlaneBinaries {
  etcd: string;
  kubeApiserver: string;
}

const MODULE_DIR = fileURLToPath(new URL('../../../../control-plane/', import.meta.url));

const BUILDS: { name: keyof ControlPlaneBinaries; file: string; pkg: string; stampVersion: boolean }[] = [
  // etcd comes from the version k8s.io/kubernetes itself requires (Debian's is older).
  { name: 'etcd', file: 'etcd', pkg: 'go.etcd.io/etcd/server/v3', stampVersion: false },
  {
    name: 'kubeApiserver',
    file: 'kube-apiserver',
    pkg: 'k8s.io/kubernetes/cmd/kube-apiserver',
    stampVersion: true,
  },
];

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** Go from PATH, or where Debian-style installs put it when PATH does not say. */
async function goBinary(): Promise<string> {
  for (const candidate of ['/usr/local/go/bin/go', '/usr/lib/go/bin/go']) {
    if (await exists(candidate)) return candidate;
  }
  return 'go';
}

/**
 * The envtest convention: `KUBEBUILDER_ASSETS` names a folder holding `etcd` and
 * `kube-apiserver`. Without it, both are built with Go from the module proxy, once, into
 * `~/.cache/nimbus`, so later runs start in seconds.
 */
export async function controlPlaneBinaries(progress: (line: string) => void): Promise<ControlPlaneBinaries> {
  const given = process.env.KUBEBUILDER_ASSETS;
  if (given !== undefined && given !== '') {
    const binaries = { etcd: join(given, 'etcd'), kubeApiserver: join(given, 'kube-apiserver') };
    for (const path of Object.values(binaries)) {
      if (!(await exists(path))) throw new Error(`KUBEBUILDER_ASSETS=${given} has no ${path}`);
    }
    return binaries;
  }
  const cache = join(
    process.env.XDG_CACHE_HOME || join(homedir(), '.cache'),
    'nimbus',
    `control-plane-${KUBERNETES_VERSION}`,
  );
  await mkdir(cache, { recursive: true });
  const go = await goBinary();
  const [major, minor] = KUBERNETES_VERSION.slice(1).split('.');
  // Without these the API server reports v0.0.0-master, and clients that check versions balk.
  const ldflags = [
    `-X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION}`,
    `-X k8s.io/component-base/version.gitMajor=${major}`,
    `-X k8s.io/component-base/version.gitMinor=${minor}`,
  ].join(' ');
  const binaries = {} as ControlPlaneBinaries;
  for (const { name, file, pkg, stampVersion } of BUILDS) {
    const target = join(cache, file);
    binaries[name] = target;
    if (await exists(target)) continue;
    progress(
      `building ${file} for Kubernetes ${KUBERNETES_VERSION} with Go (first run only; about 10 minutes on 2 cores)…`,
    );
    const started = Date.now();
    const partial = `${target}.partial-${process.pid}`;
    await run(go, ['build', ...(stampVersion ? ['-ldflags', ldflags] : []), '-o', partial, pkg], {
      cwd: MODULE_DIR,
      maxBuffer: 64 * 1024 * 1024,
    });
    // A build cut short never leaves a binary that later runs would trust.
    await rename(partial, target);
    progress(`built ${file} in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  return binaries;
}
