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
  /** Only when asked for: most suites run without the built-in controllers. */
  kubeControllerManager?: string;
  /** The real node's (test/node): only when asked for. */
  kubelet?: string;
  kubeScheduler?: string;
  kubeProxy?: string;
}

type Binary = keyof ControlPlaneBinaries;

const MODULE_DIR = fileURLToPath(new URL('../../../../control-plane/', import.meta.url));

const BUILDS: { name: Binary; file: string; pkg: string; stampVersion: boolean }[] = [
  // etcd comes from the version k8s.io/kubernetes itself requires (Debian's is older).
  { name: 'etcd', file: 'etcd', pkg: 'go.etcd.io/etcd/server/v3', stampVersion: false },
  {
    name: 'kubeApiserver',
    file: 'kube-apiserver',
    pkg: 'k8s.io/kubernetes/cmd/kube-apiserver',
    stampVersion: true,
  },
  {
    name: 'kubeControllerManager',
    file: 'kube-controller-manager',
    pkg: 'k8s.io/kubernetes/cmd/kube-controller-manager',
    stampVersion: true,
  },
  { name: 'kubelet', file: 'kubelet', pkg: 'k8s.io/kubernetes/cmd/kubelet', stampVersion: true },
  {
    name: 'kubeScheduler',
    file: 'kube-scheduler',
    pkg: 'k8s.io/kubernetes/cmd/kube-scheduler',
    stampVersion: true,
  },
  { name: 'kubeProxy', file: 'kube-proxy', pkg: 'k8s.io/kubernetes/cmd/kube-proxy', stampVersion: true },
];

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** Go from PATH, or where Debian-style installs put it when PATH does not say. */
export async function goBinary(): Promise<string> {
  for (const candidate of ['/usr/local/go/bin/go', '/usr/lib/go/bin/go']) {
    if (await exists(candidate)) return candidate;
  }
  return 'go';
}

/**
 * The envtest convention: `KUBEBUILDER_ASSETS` names a folder holding `etcd` and
 * `kube-apiserver`. Without it, both are built with Go from the module proxy, once, into
 * `~/.cache/nimbus`, so later runs start in seconds. kube-controller-manager, when asked for,
 * is taken from `KUBEBUILDER_ASSETS` if it is there (envtest's own assets never carry it) and
 * is otherwise built the same way, from the same module graph, into the same cache; so are the
 * real node's kubelet, kube-scheduler and kube-proxy when `node` is asked for.
 */
export async function controlPlaneBinaries(
  progress: (line: string) => void,
  wanted: { controllerManager?: boolean; node?: boolean } = {},
): Promise<ControlPlaneBinaries> {
  const names: Binary[] = [
    'etcd',
    'kubeApiserver',
    ...(wanted.controllerManager || wanted.node ? ['kubeControllerManager' as const] : []),
    ...(wanted.node ? (['kubelet', 'kubeScheduler', 'kubeProxy'] as const) : []),
  ];
  const given = process.env.KUBEBUILDER_ASSETS;
  const binaries = {} as ControlPlaneBinaries;
  const toBuild: typeof BUILDS = [];
  for (const build of BUILDS.filter((b) => names.includes(b.name))) {
    const path = given ? join(given, build.file) : undefined;
    if (path !== undefined && (await exists(path))) binaries[build.name] = path;
    else if (path !== undefined && (build.name === 'etcd' || build.name === 'kubeApiserver'))
      throw new Error(`KUBEBUILDER_ASSETS=${given} has no ${path}`);
    else toBuild.push(build);
  }
  if (toBuild.length === 0) return binaries;
  const cache = join(
    process.env.XDG_CACHE_HOME || join(homedir(), '.cache'),
    'nimbus',
    `control-plane-${KUBERNETES_VERSION}`,
  );
  await mkdir(cache, { recursive: true });
  const go = await goBinary();
  const [major, minor] = KUBERNETES_VERSION.slice(1).split('.');
  // Without these the binaries report v0.0.0-master, and clients that check versions balk.
  const ldflags = [
    `-X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION}`,
    `-X k8s.io/component-base/version.gitMajor=${major}`,
    `-X k8s.io/component-base/version.gitMinor=${minor}`,
  ].join(' ');
  for (const { name, file, pkg, stampVersion } of toBuild) {
    const target = join(cache, file);
    binaries[name] = target;
    if (await exists(target)) continue;
    progress(
      `building ${file} for Kubernetes ${KUBERNETES_VERSION} with Go (first run only; 2 to 5 minutes each on 2 cores)…`,
    );
    const started = Date.now();
    const partial = `${target}.partial-${process.pid}`;
    // At the lowest priority: a build must not starve the tests running beside it.
    await run(
      'nice',
      ['-n', '19', go, 'build', ...(stampVersion ? ['-ldflags', ldflags] : []), '-o', partial, pkg],
      {
        cwd: MODULE_DIR,
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    // A build cut short never leaves a binary that later runs would trust.
    await rename(partial, target);
    progress(`built ${file} in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  return binaries;
}
