import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Containerd } from './harness/containerd.js';
import { stderrProgress, unsupportedReason } from './harness/host.js';
import { type NodeImages, PAUSE_IMAGE, chartAppVersion } from './harness/images.js';
import { sharedNode } from './harness/shared-node.js';

/**
 * The real node's images: built without a registry (locally made base images, the four
 * product Dockerfiles unchanged, Debian's Redis and NATS, our own pause) and imported into the
 * real node's containerd, where the kubelet looks for them. Runs as root on Linux only.
 */

const repoRoot = resolve(fileURLToPath(import.meta.url), '../../../..');

describe('real node: images', () => {
  let containerd: Containerd;
  let images: NodeImages;
  let run = 0;

  before(async function () {
    const reason = unsupportedReason();
    if (reason !== undefined) {
      stderrProgress(`skipping the real-node image tests: ${reason}`);
      this.skip();
    }
    const node = await sharedNode();
    containerd = node.containerdRuntime;
    images = node.images;
  });

  /** `ctr run --rm` of `image` with `args`, its output. */
  function ctrRun(image: string, args: string[], flags: string[] = []): Promise<string> {
    run += 1;
    return containerd.run(image, `images-test-${run}`, args, flags);
  }

  it('lists every image in k8s.io under the names the chart and the kubelet use', async () => {
    const version = await chartAppVersion(repoRoot);
    assert.equal(images.gateway, `docker.io/nimbus/gateway:${version}`);
    assert.equal(images.controller, `docker.io/nimbus/controller:${version}`);
    assert.equal(images.runtimeNode, `docker.io/nimbus/runtime-node:${version}`);
    assert.equal(images.runtimePython, `docker.io/nimbus/runtime-python:${version}`);
    assert.equal(images.pause, PAUSE_IMAGE);
    const listed = await containerd.images();
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
  });

  it('serves Redis as 999 and NATS with JetStream as 1000 on a read-only root, writing only /data', async () => {
    // As the chart's users (ctr 1.6's run has no --user); /data is a fresh volume the user owns
    // (the chart's fsGroup) and the root is read-only.
    const as = (id: number, command: string) => [
      'sh',
      '-c',
      'chown "$0:$0" /data && exec setpriv --reuid="$0" --regid="$0" --clear-groups sh -c "$1"',
      String(id),
      command,
    ];
    const data = ['--read-only', '--mount', 'type=tmpfs,src=tmpfs,dst=/data,options=rw'];
    assert.match(await ctrRun(images.services, as(999, 'id -un'), data), /^redis$/m);
    assert.match(await ctrRun(images.services, as(1000, 'id -un'), data), /^nats$/m);
    // No network: Redis on a unix socket in /data, probed as the chart's readiness probe does.
    const redis = await ctrRun(
      images.services,
      as(
        999,
        'redis-server --port 0 --unixsocket /data/redis.sock --dir /data --save "" --appendonly yes --daemonize yes --logfile /data/redis.log' +
          ' && for i in $(seq 50); do [ -S /data/redis.sock ] && break; sleep 0.1; done' +
          ' && redis-cli -s /data/redis.sock ping | grep -qx PONG && echo ready && redis-cli -s /data/redis.sock shutdown nosave',
      ),
      data,
    );
    assert.match(redis, /^ready$/m);
    const nats = await ctrRun(
      images.services,
      as(
        1000,
        'nats-server --jetstream --store_dir /data --port -1 --http_port -1 >/data/nats.log 2>&1 & pid=$!' +
          '; for i in $(seq 50); do grep -q "Server is ready" /data/nats.log && break; sleep 0.1; done' +
          '; kill $pid; cat /data/nats.log; ls /data',
      ),
      data,
    );
    assert.match(nats, /Server is ready/);
    assert.match(nats, /jetstream/);
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

  it('runs the runtime-python image as its Dockerfile says: Debian’s Python 3.11 as 10001, the runtime compiled', async () => {
    const out = await ctrRun(images.runtimePython, [
      'python3',
      '-c',
      [
        'import importlib.util, json, os, sys',
        "sys.path.insert(0, '/app/runtime-python')",
        "spec = importlib.util.find_spec('nimbus_runtime.main')",
        'print(json.dumps({"uid": os.getuid(), "version": list(sys.version_info[:2]), "cached": spec.cached,',
        '  "cachedExists": os.path.exists(spec.cached), "handler": os.environ.get("NIMBUS_HANDLER"),',
        '  "dir": os.environ.get("NIMBUS_FUNCTION_DIR"), "noBytecode": sys.dont_write_bytecode}))',
      ].join('\n'),
    ]);
    const seen = JSON.parse(out.trim()) as {
      uid: number;
      version: number[];
      cached: string;
      cachedExists: boolean;
      handler: string;
      dir: string;
      noBytecode: boolean;
    };
    assert.deepEqual(seen, {
      uid: 10001,
      version: [3, 11],
      cached: '/app/runtime-python/nimbus_runtime/__pycache__/main.cpython-311.pyc',
      cachedExists: true,
      handler: 'main.handle',
      dir: '/var/nimbus/function',
      noBytecode: true,
    });
  });
});
