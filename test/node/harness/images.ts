import { createHash } from 'node:crypto';
import {
  chmod,
  chown,
  copyFile,
  cp,
  mkdir,
  mkdtemp,
  readFile,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Containerd } from './containerd.js';
import { unmountUnder } from './containerd.js';
import { Dockerd } from './dockerd.js';
import { type Progress, cacheDir, exists, sh, stderrProgress } from './host.js';

/**
 * The images the real node runs, made without a registry: the four product images built
 * unchanged from their Dockerfiles, an image of Debian's Redis and NATS for the chart's two, and
 * the pod sandbox (pause) image, all imported into the test's containerd (namespace k8s.io) so
 * the kubelet finds them with `imagePullPolicy: IfNotPresent`.
 *
 * The Dockerfiles' base images are stand-ins made here: `node:20-bookworm-slim` is a debootstrap
 * root with the machine's Node, `gcr.io/distroless/nodejs20-debian12:nonroot` a scratch image
 * with that Node, its libraries and the nonroot user, and `debian:bookworm-slim` (runtime-python's,
 * which installs Debian's python3 into it) the debootstrap root itself. Each is a tarball cached under
 * ~/.cache/nimbus/images, keyed by what makes it, and `docker import`ed into a dockerd whose data
 * root is cached too, so a second run reuses the build layers and takes seconds.
 */

/** References as containerd's k8s.io namespace names them (what a pod spec's image resolves to). */
export interface NodeImages {
  gateway: string;
  controller: string;
  runtimeNode: string;
  runtimePython: string;
  /** redis-server, redis-cli, nats-server and /bin/sh: the chart's redis and nats images' stand-in. */
  services: string;
  /** The pod sandbox image: give it to `Containerd.start({ sandboxImage })`. */
  pause: string;
  /** Someone else's HTTP server (Python, stdlib): the image of a container function. */
  containerServer: string;
  /** The distroless Node base the product images run on, for checks of its own. */
  distroless: string;
}

/** The sandbox image's reference, known before anything is built (containerd needs it at start). */
export const PAUSE_IMAGE = 'docker.io/nimbus-test/pause:1';
/** The Redis and NATS stand-in's reference. */
export const SERVICES_IMAGE = 'docker.io/nimbus-test/services:1';
/** A container function's image: test/fixtures/container-server.py on Debian's python3. */
export const CONTAINER_SERVER_IMAGE = 'docker.io/nimbus-test/container-server:1';

const DEBIAN_SUITE = 'bookworm';
const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
/** Bump when a recipe below changes in a way its inputs do not show. */
const RECIPE = 'r1';
const NODE_BASE = 'node:20-bookworm-slim';
const DISTROLESS_BASE = 'gcr.io/distroless/nodejs20-debian12:nonroot';
const DEBIAN_BASE = 'nimbus-test/debian:bookworm';
/** runtime-python/Dockerfile's base: the same debootstrap root under the name it gives. */
const DEBIAN_SLIM_BASE = 'debian:bookworm-slim';
const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const PRODUCTS = [
  { key: 'gateway', dockerfile: 'gateway/Dockerfile', name: 'nimbus/gateway' },
  { key: 'controller', dockerfile: 'controller/Dockerfile', name: 'nimbus/controller' },
  { key: 'runtimeNode', dockerfile: 'runtime-node/Dockerfile', name: 'nimbus/runtime-node' },
  { key: 'runtimePython', dockerfile: 'runtime-python/Dockerfile', name: 'nimbus/runtime-python' },
] as const;

export interface BuildImagesOptions {
  containerd: Containerd;
  /** The repository's root: the build context of the product Dockerfiles. */
  repoRoot: string;
  /** Scratch space for this run (dockerd's sockets and exec root, staging dirs); short path. */
  workDir: string;
  progress?: Progress;
}

/** `nimbus/gateway:0.1.0` → `docker.io/nimbus/gateway:0.1.0`, as containerd lists it. */
export function containerdRef(reference: string): string {
  const first = reference.split('/')[0] as string;
  const qualified =
    reference.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (qualified) return reference;
  return reference.includes('/') ? `docker.io/${reference}` : `docker.io/library/${reference}`;
}

/** `docker.io/nimbus/gateway:0.1.0` → `{ repository: 'docker.io/nimbus/gateway', tag: '0.1.0' }`, for chart values. */
export function repositoryAndTag(reference: string): { repository: string; tag: string } {
  const at = reference.lastIndexOf(':');
  if (at < 0 || reference.slice(at).includes('/')) return { repository: reference, tag: 'latest' };
  return { repository: reference.slice(0, at), tag: reference.slice(at + 1) };
}

/** The chart's appVersion: the tag its defaults give the product images. */
export async function chartAppVersion(repoRoot: string): Promise<string> {
  const chart = await readFile(join(repoRoot, 'charts/nimbus/Chart.yaml'), 'utf8');
  const match = /^appVersion:\s*"?([^"\s]+)"?\s*$/m.exec(chart);
  if (!match?.[1]) throw new Error('charts/nimbus/Chart.yaml has no appVersion');
  return match[1];
}

/** Builds every image (cached where it can) and imports them into `containerd`'s k8s.io namespace. */
export async function buildImages(options: BuildImagesOptions): Promise<NodeImages> {
  const progress = options.progress ?? stderrProgress;
  const { repoRoot, workDir, containerd } = options;
  await mkdir(workDir, { recursive: true });
  const started = Date.now();
  const seconds = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

  await checkDockerignore(repoRoot, progress);
  const version = await chartAppVersion(repoRoot);
  const bases = await baseTarballs(repoRoot, workDir, progress);
  progress(`images: base tarballs ready (${seconds()})`);

  const dockerd = await Dockerd.start({
    containerdSocket: containerd.socket,
    workDir: join(workDir, 'docker'),
    progress,
  });
  try {
    await dockerd.importTarball(bases.debian.tarball, DEBIAN_BASE, bases.debian.key, [
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'CMD ["bash"]',
    ]);
    await dockerd.importTarball(bases.debian.tarball, DEBIAN_SLIM_BASE, bases.debian.key, [
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'CMD ["bash"]',
    ]);
    await dockerd.importTarball(bases.node.tarball, NODE_BASE, bases.node.key, [
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      `ENV NODE_VERSION=${bases.nodeVersion.replace(/^v/, '')}`,
      `ENV NODE_EXTRA_CA_CERTS=${NODE_BASE_CA}`,
      'CMD ["node"]',
    ]);
    await dockerd.importTarball(bases.distroless.tarball, DISTROLESS_BASE, bases.distroless.key, [
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt',
      'ENTRYPOINT ["/nodejs/bin/node"]',
      'USER 65532',
      'WORKDIR /home/nonroot',
    ]);
    await dockerd.importTarball(bases.pause.tarball, dockerName(PAUSE_IMAGE), bases.pause.key, [
      'ENTRYPOINT ["/pause"]',
      'USER 65535:65535',
    ]);
    progress(`images: base images in dockerd (${seconds()})`);

    const servicesContext = join(workDir, 'services-context');
    await mkdir(servicesContext, { recursive: true });
    await dockerd.build(
      [
        '--build-arg',
        `BASE=${DEBIAN_BASE}`,
        '-f',
        join(repoRoot, 'test/node/images/services.Dockerfile'),
        '-t',
        dockerName(SERVICES_IMAGE),
        servicesContext,
      ],
      repoRoot,
    );
    progress(`images: services image built (${seconds()})`);

    const serverContext = join(workDir, 'container-server-context');
    await mkdir(serverContext, { recursive: true });
    await copyFile(
      join(repoRoot, 'test/fixtures/container-server.py'),
      join(serverContext, 'container-server.py'),
    );
    await dockerd.build(
      [
        '--build-arg',
        `BASE=${DEBIAN_BASE}`,
        '-f',
        join(repoRoot, 'test/node/images/container-server.Dockerfile'),
        '-t',
        dockerName(CONTAINER_SERVER_IMAGE),
        serverContext,
      ],
      repoRoot,
    );
    progress(`images: container-server image built (${seconds()})`);

    const images: NodeImages = {
      gateway: '',
      controller: '',
      runtimeNode: '',
      runtimePython: '',
      services: SERVICES_IMAGE,
      pause: PAUSE_IMAGE,
      containerServer: CONTAINER_SERVER_IMAGE,
      distroless: containerdRef(DISTROLESS_BASE),
    };
    for (const product of PRODUCTS) {
      const tag = `${product.name}:${version}`;
      await dockerd.build(['-f', product.dockerfile, '-t', tag, '.'], repoRoot);
      images[product.key] = containerdRef(tag);
      progress(`images: ${tag} built (${seconds()})`);
    }

    const names = [
      ...PRODUCTS.map((product) => `${product.name}:${version}`),
      dockerName(SERVICES_IMAGE),
      dockerName(CONTAINER_SERVER_IMAGE),
      dockerName(PAUSE_IMAGE),
      DISTROLESS_BASE,
    ];
    await dockerd.saveInto(names, ['--address', containerd.socket, '-n', 'k8s.io', 'images', 'import']);
    await dockerd.pruneUnused();
    progress(`images: imported into containerd (${seconds()})`);

    const listed = new Set(await containerd.images());
    const missing = Object.values(images).filter((reference) => !listed.has(reference));
    if (missing.length > 0) {
      throw new Error(
        `containerd does not list ${missing.join(', ')} after the import; it has ${[...listed].join(', ')}`,
      );
    }
    return images;
  } finally {
    await dockerd.stop();
  }
}

/** docker's short name for a `docker.io/...` reference (what `docker build -t` and `save` take). */
function dockerName(reference: string): string {
  return reference.replace(/^docker\.io\/(library\/)?/, '');
}

/** The image build copies the whole repository: without these exclusions it would send (and bake in) gigabytes. */
async function checkDockerignore(repoRoot: string, progress: Progress): Promise<void> {
  const path = join(repoRoot, '.dockerignore');
  if (!(await exists(path))) {
    progress('images: warning: the repository has no .dockerignore; builds send node_modules, dist and .git');
    return;
  }
  const lines = (await readFile(path, 'utf8')).split('\n').map((line) => line.trim());
  for (const wanted of ['node_modules', 'dist', '.git']) {
    if (!lines.some((line) => line === wanted || line === `**/${wanted}` || line === `/${wanted}`)) {
      progress(`images: warning: .dockerignore does not exclude ${wanted}`);
    }
  }
}

/** Where the node stand-in keeps the machine's CA bundle (its npm reaches the registry through it). */
const NODE_BASE_CA = '/usr/local/share/nimbus/host-ca-certificates.crt';

interface Tarball {
  tarball: string;
  /** What made it, as a label on the imported image: a changed key imports it again. */
  key: string;
}

interface BaseTarballs {
  debian: Tarball;
  node: Tarball;
  distroless: Tarball;
  pause: Tarball;
  nodeVersion: string;
}

const sha = (...parts: (string | Buffer)[]) => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex').slice(0, 16);
};

/** The base images' root file systems as tarballs, each made once per key into the cache. */
async function baseTarballs(repoRoot: string, workDir: string, progress: Progress): Promise<BaseTarballs> {
  const dir = cacheDir('images');
  await mkdir(dir, { recursive: true });
  const nodeVersion = (await sh('/usr/bin/node', ['--version'])).stdout.trim();
  const ca = await readFile(HOST_CA_BUNDLE);

  const debianKey = `debian-${DEBIAN_SUITE}-minbase-${RECIPE}`;
  const debian = join(dir, `${debianKey}.tar`);
  if (!(await exists(debian))) {
    progress(`images: debootstrap ${DEBIAN_SUITE} (first run only, 2-3 min)…`);
    await cached(debian, workDir, (staging) => debootstrapTarball(staging, debian));
  }

  const nodeKey = `node-${DEBIAN_SUITE}-${nodeVersion}-${sha(RECIPE, debianKey, ca)}`;
  const node = join(dir, `${nodeKey}.tar`);
  if (!(await exists(node))) {
    progress(`images: ${NODE_BASE} stand-in with Node ${nodeVersion}`);
    await cached(node, workDir, (staging) => nodeBaseTarball(staging, debian, node, ca));
  }

  const distrolessKey = `distroless-${nodeVersion}-${sha(RECIPE, ca)}`;
  const distroless = join(dir, `${distrolessKey}.tar`);
  if (!(await exists(distroless))) {
    progress(`images: ${DISTROLESS_BASE} stand-in with Node ${nodeVersion}`);
    await cached(distroless, workDir, (staging) => distrolessTarball(staging, distroless, ca));
  }

  const pauseSource = join(repoRoot, 'test/node/images/pause.c');
  const pauseKey = `pause-${sha(RECIPE, await readFile(pauseSource))}`;
  const pause = join(dir, `${pauseKey}.tar`);
  if (!(await exists(pause))) {
    await cached(pause, workDir, (staging) => pauseTarball(staging, pauseSource, pause));
  }

  return {
    debian: { tarball: debian, key: debianKey },
    node: { tarball: node, key: nodeKey },
    distroless: { tarball: distroless, key: distrolessKey },
    pause: { tarball: pause, key: pauseKey },
    nodeVersion,
  };
}

/**
 * Makes `target` through `make(staging)`, which writes `<target>.partial`; renamed into place only
 * once whole, so a killed run leaves no half tarball to be taken for a finished one.
 */
async function cached(
  target: string,
  workDir: string,
  make: (staging: string) => Promise<void>,
): Promise<void> {
  const staging = await mkdtemp(join(workDir, 'staging-'));
  try {
    await make(staging);
    await rename(`${target}.partial`, target);
  } finally {
    await unmountUnder(staging);
    await rm(staging, { recursive: true, force: true });
    await rm(`${target}.partial`, { force: true });
  }
}

/** Root files a container gets from its runtime, or that only make an image bigger. */
const TAR_EXCLUDES = [
  './dev/*',
  './proc/*',
  './sys/*',
  './run/*',
  './tmp/*',
  './var/cache/apt/archives/*.deb',
  './var/lib/apt/lists/*',
  './var/log/*',
];

async function debootstrapTarball(staging: string, target: string): Promise<void> {
  const root = join(staging, 'root');
  await sh('debootstrap', ['--variant=minbase', DEBIAN_SUITE, root, DEBIAN_MIRROR], {
    timeoutMs: 20 * 60_000,
  });
  await tarRoot(root, `${target}.partial`);
}

/** The Debian root with the machine's Node and npm, and its CA bundle for npm's TLS. */
async function nodeBaseTarball(staging: string, debian: string, target: string, ca: Buffer): Promise<void> {
  const root = join(staging, 'root');
  await mkdir(root, { recursive: true });
  await sh('tar', ['-C', root, '--numeric-owner', '-xpf', debian]);
  await copyFile('/usr/bin/node', join(root, 'usr/bin/node'));
  await chmod(join(root, 'usr/bin/node'), 0o755);
  await rm(join(root, 'usr/lib/node_modules/npm'), { recursive: true, force: true });
  await mkdir(join(root, 'usr/lib/node_modules'), { recursive: true });
  await cp('/usr/lib/node_modules/npm', join(root, 'usr/lib/node_modules/npm'), {
    recursive: true,
    verbatimSymlinks: true,
  });
  for (const [link, to] of [
    ['npm', '../lib/node_modules/npm/bin/npm-cli.js'],
    ['npx', '../lib/node_modules/npm/bin/npx-cli.js'],
  ] as const) {
    await rm(join(root, 'usr/bin', link), { force: true });
    await symlink(to, join(root, 'usr/bin', link));
  }
  await mkdir(join(root, dirname(NODE_BASE_CA)), { recursive: true });
  await writeFile(join(root, NODE_BASE_CA), ca, { mode: 0o644 });
  await sh('chroot', [root, '/usr/bin/node', '--version']);
  await tarRoot(root, `${target}.partial`);
}

/** From scratch: /nodejs/bin/node, the libraries `ldd` names for it, CA certs and the nonroot user (65532). */
async function distrolessTarball(staging: string, target: string, ca: Buffer): Promise<void> {
  const root = join(staging, 'root');
  await mkdir(join(root, 'nodejs/bin'), { recursive: true, mode: 0o755 });
  await chmod(root, 0o755);
  await copyFile('/usr/bin/node', join(root, 'nodejs/bin/node'));
  await chmod(join(root, 'nodejs/bin/node'), 0o755);
  const { stdout } = await sh('ldd', ['/usr/bin/node']);
  const libraries = new Set<string>();
  for (const line of stdout.split('\n')) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (match?.[1]) libraries.add(match[1]);
  }
  if (libraries.size === 0) throw new Error(`ldd /usr/bin/node named no libraries:\n${stdout}`);
  for (const library of libraries) {
    await mkdir(join(root, dirname(library)), { recursive: true, mode: 0o755 });
    // The file itself, not the symlink ldd may name.
    await cp(library, join(root, library), { dereference: true });
  }
  await mkdir(join(root, 'etc/ssl/certs'), { recursive: true, mode: 0o755 });
  await writeFile(join(root, 'etc/ssl/certs/ca-certificates.crt'), ca, { mode: 0o644 });
  await writeFile(
    join(root, 'etc/passwd'),
    'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n',
    { mode: 0o644 },
  );
  await writeFile(
    join(root, 'etc/group'),
    'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\ntty:x:5:\nstaff:x:50:\n',
    {
      mode: 0o644,
    },
  );
  await writeFile(join(root, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n', {
    mode: 0o644,
  });
  if (await exists('/etc/os-release')) await copyFile('/etc/os-release', join(root, 'etc/os-release'));
  await mkdir(join(root, 'tmp'), { mode: 0o1777 });
  await chmod(join(root, 'tmp'), 0o1777);
  await mkdir(join(root, 'root'), { mode: 0o700 });
  await mkdir(join(root, 'home/nonroot'), { recursive: true, mode: 0o700 });
  await chown(join(root, 'home/nonroot'), 65532, 65532);
  await sh('chroot', ['--userspec=65532:65532', root, '/nodejs/bin/node', '-e', 'process.exit(0)']);
  await tarRoot(root, `${target}.partial`);
}

/** One static binary, /pause, built from test/node/images/pause.c. */
async function pauseTarball(staging: string, source: string, target: string): Promise<void> {
  const root = join(staging, 'root');
  await mkdir(root, { mode: 0o755 });
  await chmod(root, 0o755);
  await sh('gcc', ['-static', '-O2', '-s', '-Wall', '-Wextra', '-Werror', '-o', join(root, 'pause'), source]);
  await tarRoot(root, `${target}.partial`);
}

async function tarRoot(root: string, output: string): Promise<void> {
  await sh('tar', [
    '-C',
    root,
    '--numeric-owner',
    '--xattrs',
    ...TAR_EXCLUDES.flatMap((pattern) => ['--exclude', pattern]),
    '-cf',
    output,
    '.',
  ]);
}
