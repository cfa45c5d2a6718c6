import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Containerd } from './harness/containerd.js';
import { stderrProgress, unsupportedReason } from './harness/host.js';
import { type NodeImages, PAUSE_IMAGE, buildImages, chartAppVersion } from './harness/images.js';

/**
 * The real node's images: built without a registry (locally made base images, the three
 * product Dockerfiles unchanged, Debian's Redis and NATS, our own pause) and imported into the
 * test's containerd, where the kubelet will look for them. Runs as root on Linux only.
 */

const repoRoot = resolve(fileURLToPath(import.meta.url), '../../../..');

describe('real node: images', () => {
  let workDir: string;
  let containerd: Containerd | undefined;
  let images: NodeImages;
  let run = 0;

  before(async function () {
    const reason = unsupportedReason();
    if (reason !== undefined) {
      stderrProgress(`skipping the real-node image tests: ${reason}`);
      this.skip();
    }
    workDir = await mkdtemp(join(tmpdir(), 'nimbus-img-'));
    containerd = await Containerd.start({
      dir: join(workDir, 'containerd'),
      sandboxImage: PAUSE_IMAGE,
      cniConfDir: join(workDir, 'cni'),
    });
    const started = Date.now();
    images = await buildImages({
      containerd,
      repoRoot,
      workDir: join(workDir, 'build'),
      progress: stderrProgress,
    });
    stderrProgress(`images built and imported in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  after(async () => {
    await containerd?.stop();
    if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
  });

  /** `ctr run --rm` of `image` with `args`, its output. */
  function ctrRun(image: string, args: string[], flags: string[] = []): Promise<string> {
    run += 1;
    return (containerd as Containerd).run(image, `images-test-${run}`, args, flags);
  }

  it('lists every image in k8s.io under the names the chart and the kubelet use', async () => {
    const version = await chartAppVersion(repoRoot);
    assert.equal(images.gateway, `docker.io/nimbus/gateway:${version}`);
    assert.equal(images.controller, `docker.io/nimbus/controller:${version}`);
    assert.equal(images.runtimeNode, `docker.io/nimbus/runtime-node:${version}`);
    assert.equal(images.pause, PAUSE_IMAGE);
    const listed = await (containerd as Containerd).images();
    for (const reference of Object.values(images))
      assert.ok(listed.includes(reference), `${reference} in ${listed}`);
  });

  it('runs redis-server, redis-cli and nats-server from the services image as the chart runs them', async () => {
    assert.match(await ctrRun(images.services, ['redis-server', '--version']), /Redis server v=7\./);
    assert.match(await ctrRun(images.services, ['nats-server', '--version']), /nats-server: v2\./);
    assert.match(
      await ctrRun(images.services, ['sh', '-c', 'redis-cli --version | grep -q redis-cli && echo ok']),
      /ok/,
    );
    // As the chart's users (redis 999, nats 1000) on a read-only root; ctr 1.6's run has no --user.
    const as = (id: number, command: string) => [
      'setpriv',
      `--reuid=${id}`,
      `--regid=${id}`,
      '--clear-groups',
      'sh',
      '-c',
      command,
    ];
    assert.match(
      await ctrRun(images.services, as(999, 'id -un; redis-server --version && redis-cli --version'), [
        '--read-only',
      ]),
      /^redis\nRedis server v=7\..*\nredis-cli 7\./s,
    );
    assert.match(
      await ctrRun(images.services, as(1000, 'id -un; nats-server --version'), ['--read-only']),
      /^nats\nnats-server: v2\./,
    );
  });

  it('runs node as nonroot (65532) in the distroless stand-in', async () => {
    const out = await ctrRun(images.distroless, [
      '/nodejs/bin/node',
      '-e',
      'console.log(process.getuid(), require("os").userInfo().username, process.cwd())',
    ]);
    assert.equal(out.trim(), '65532 nonroot /home/nonroot');
  });

  it('runs the gateway image on the distroless stand-in as its Dockerfile says', async () => {
    const out = await ctrRun(images.gateway, [
      '/nodejs/bin/node',
      '-e',
      'console.log(process.getuid(), process.version)',
    ]);
    assert.match(out.trim(), /^10001 v20\./);
  });
});
