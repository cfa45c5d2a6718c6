import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { type Readiness, createLogger, systemClock } from '@nimbus/api';
import { Informer, KubeClient, isConflict, isNotFound, loadKubeConfig, resourcePath } from '@nimbus/kube';
import { LogBook } from '@nimbus/local/process/log-book';
import { checkReadiness } from '@nimbus/local/process/readiness-check';
import { pythonExecutable } from '@nimbus/local/process/spawn';
import { runtimeEntryPath } from '@nimbus/runtime-node';
import { pythonRuntimeEntryPath } from '@nimbus/runtime-python';
import type { ControlPlane } from './control-plane/control-plane.js';
import { PYTHON_RUNTIME_IMAGE } from './controller.js';
import { PodAddresses } from './pod-addresses.js';
import { POD_RESOURCES, type Pod, type PodContainer, apiTime } from './pod-objects.js';
import { type ContainerRun, podStatus } from './pod-status.js';
import { containerEnv, dropUnmounted, envValues, materializeVolumes, podFields } from './pod-volumes.js';

export interface PodRunnerOptions {
  /** The pods it runs; others it leaves alone. Nimbus's by default. */
  labelSelector?: string;
  /** One namespace, or every namespace when undefined. */
  namespace?: string;
  /** Added to every process's environment (NIMBUS_LOG_LEVEL, say). */
  env?: Record<string, string>;
  /**
   * Images the runner knows how to run, as local commands: a container function's pod that
   * names one of these and no command runs it (a registry, in miniature).
   */
  images?: Record<string, string[]>;
  /**
   * Every readiness probe's period instead of the pod spec's: a slow kubelet, so a test can tell
   * a replica used before its probe passed from one used after.
   */
  readinessPeriodMs?: number;
}

/** One pod the runner runs, as a test sees it. */
export interface RunningPod {
  namespace: string;
  name: string;
  uid: string;
  ip: string;
  port: number;
  /** The process's PID; undefined between a crash and its restart. */
  pid: number | undefined;
  ready: boolean;
  /** The process's stdout and stderr. */
  logFile: string;
}

interface Run extends ContainerRun {
  key: string;
  namespace: string;
  name: string;
  uid: string;
  container: PodContainer;
  port: number;
  env: Record<string, string>;
  root: string;
  logFile: string;
  child: ChildProcess | undefined;
  stopping: boolean;
  timer: NodeJS.Timeout | undefined;
  successes: number;
  failures: number;
}

const RESTART_BACKOFF_MS = [1_000, 2_000, 4_000, 8_000, 16_000, 30_000];

/**
 * The kubelet and scheduler for the pods of a test control plane, in miniature. It registers a
 * Node, binds every matching pod to it, and runs each pod's container as a local runtime-node
 * process on an address of the pod's own (see PodAddresses for why not loopback), whatever image
 * the pod names but the harness's runtime-python image (PYTHON_RUNTIME_IMAGE), which runs
 * runtime-python; a container that names a command (a container function's) runs that command
 * instead, told the address in HOST and the port in PORT. It probes readiness as the pod spec says and writes the pod's status, so the
 * Deployment and EndpointSlice controllers of kube-controller-manager see ready pods. When a pod
 * is deleted it SIGTERMs the process, waits up to the grace period, and then removes the pod
 * (grace 0), as the kubelet does; a process that dies is restarted with backoff. Init containers
 * run first, in order, each to completion, as node scripts of the runtime image (see initScript);
 * volumes only they mount are gone before the container starts. Env values may come from the
 * downward API's fieldRef; a preStop sleep is waited out before SIGTERM. It has no liveness probe,
 * resource limits or image, and runs one container per pod.
 */
export class PodRunner {
  private readonly runs = new Map<string, Run>();
  private readonly chains = new Map<string, Promise<void>>();
  private readonly retries = new Set<NodeJS.Timeout>();
  private stopped = false;
  /** Failures of pod work, each retried; a test can assert there were none. */
  readonly errors: Error[] = [];

  private constructor(
    private readonly client: KubeClient,
    private readonly informer: Informer<Pod>,
    private readonly addresses: PodAddresses,
    private readonly dir: string,
    readonly nodeName: string,
    private readonly extraEnv: Record<string, string>,
    private readonly images: Readonly<Record<string, string[]>>,
    private readonly readinessPeriodMs: number | undefined,
    /** Each pod's output lines (by namespace/name), for the kubelet's log endpoint. */
    private readonly logs: LogBook,
    private readonly kubelet: Server,
  ) {}

  static async start(plane: ControlPlane, options: PodRunnerOptions = {}): Promise<PodRunner> {
    const client = new KubeClient(loadKubeConfig({ KUBECONFIG: plane.kubeconfigPath }));
    const addresses = await PodAddresses.open();
    const dir = await mkdtemp(join(tmpdir(), 'nimbus-pods-'));
    const nodeName = `nimbus-test-node-${randomBytes(3).toString('hex')}`;
    const logs = new LogBook(systemClock, 5000);
    const kubelet = await serveContainerLogs(plane.servingCertFiles, logs);
    await registerNode(client, nodeName, (kubelet.address() as AddressInfo).port);
    const informer = new Informer<Pod>(
      client,
      {
        resource: POD_RESOURCES.pods,
        namespace: options.namespace,
        labelSelector: options.labelSelector ?? 'app.kubernetes.io/managed-by=nimbus',
      },
      createLogger({}, 'error', () => {}),
    );
    const runner = new PodRunner(
      client,
      informer,
      addresses,
      dir,
      nodeName,
      options.env ?? {},
      options.images ?? {},
      options.readinessPeriodMs,
      logs,
      kubelet,
    );
    informer.on((event) =>
      runner.enqueue(`${event.object.metadata.namespace}/${event.object.metadata.name}`),
    );
    informer.start();
    await informer.synced();
    return runner;
  }

  /** The pods running now, in no particular order. */
  pods(): RunningPod[] {
    return [...this.runs.values()].map((run) => ({
      namespace: run.namespace,
      name: run.name,
      uid: run.uid,
      ip: run.podIP,
      port: run.port,
      pid: run.child?.pid,
      ready: run.ready,
      logFile: run.logFile,
    }));
  }

  /** Stops every process (by its PID), gives back the addresses and removes the Node. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.retries) clearTimeout(timer);
    await this.informer.stop();
    // Work still under way may start a process meanwhile: the second pass stops that one.
    for (let pass = 0; pass < 2; pass++) {
      await Promise.all([...this.runs.values()].map((run) => this.terminate(run, 5)));
      await Promise.allSettled([...this.chains.values()]);
    }
    this.runs.clear();
    this.kubelet.closeAllConnections();
    await new Promise((resolve) => this.kubelet.close(resolve));
    await this.addresses.releaseAll();
    await this.client.delete(POD_RESOURCES.nodes, undefined, this.nodeName).catch(() => {});
    this.client.close();
    await rm(this.dir, { recursive: true, force: true });
  }

  /**
   * For exit handlers, where nothing can be awaited: SIGKILL each process by its PID. The
   * addresses stay; the next runner on this machine sweeps them (they name a dead PID).
   */
  killNow(): void {
    this.stopped = true;
    for (const run of this.runs.values()) {
      run.stopping = true;
      clearTimeout(run.timer);
      run.child?.kill('SIGKILL');
    }
  }

  /** Work on one pod runs in order, one piece at a time; different pods proceed in parallel. */
  private enqueue(key: string, work: () => Promise<void> = () => this.sync(key)): void {
    if (this.stopped) return;
    const next = (this.chains.get(key) ?? Promise.resolve())
      .then(() => (this.stopped ? undefined : work()))
      .catch((err: unknown) => this.failed(key, err));
    this.chains.set(key, next);
    void next.then(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
  }

  private failed(key: string, err: unknown): void {
    if (this.stopped) return;
    const error = new Error(`pod runner: ${key}: ${(err as Error).message ?? err}`, { cause: err });
    this.errors.push(error);
    process.stderr.write(`${error.message}\n`);
    const timer = setTimeout(() => {
      this.retries.delete(timer);
      this.enqueue(key);
    }, 1_000);
    this.retries.add(timer);
  }

  /** Brings one pod's process in line with the pod as the informer last saw it. */
  private async sync(key: string): Promise<void> {
    const [namespace = '', name = ''] = key.split('/');
    const pod = this.informer.get(namespace, name);
    const run = this.runs.get(key);
    if (run !== undefined && pod?.metadata.uid !== run.uid) {
      // Gone, or replaced by a pod of the same name: the old process goes now.
      await this.terminate(run, 0);
      this.runs.delete(key);
    }
    if (pod === undefined || this.stopped) return;
    const bound = pod.spec.nodeName;
    if (bound !== undefined && bound !== this.nodeName) return;
    if (pod.metadata.deletionTimestamp !== undefined) {
      const current = this.runs.get(key);
      if (current !== undefined) {
        const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds;
        await this.terminate(current, grace ?? 30);
        this.runs.delete(key);
      }
      await this.removePod(pod);
      return;
    }
    if (bound === undefined) return this.bind(pod);
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
    if (!this.runs.has(key)) {
      const started = await this.launch(key, pod);
      this.runs.set(key, started);
      await this.writeStatus(started);
    }
  }

  /** The scheduler's part: the binding subresource, conditional on the pod's UID. */
  private async bind(pod: Pod): Promise<void> {
    const { namespace, name, uid } = pod.metadata;
    try {
      await this.client.request('POST', resourcePath(POD_RESOURCES.pods, namespace, name, 'binding'), {
        body: {
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name, namespace, uid },
          target: { apiVersion: 'v1', kind: 'Node', name: this.nodeName },
        },
      });
    } catch (err) {
      // Bound already, or gone: the informer brings the news.
      if (!isConflict(err) && !isNotFound(err)) throw err;
    }
  }

  private async launch(key: string, pod: Pod): Promise<Run> {
    const { namespace = '', name = '', uid = '' } = pod.metadata;
    const [container, ...others] = pod.spec.containers;
    if (container === undefined || others.length > 0)
      throw new Error(`pod ${key} has ${pod.spec.containers.length} containers; the runner runs exactly one`);
    const port = container.ports?.[0]?.containerPort;
    if (port === undefined) throw new Error(`pod ${key}: its container has no port`);
    const root = join(this.dir, uid);
    await mkdir(root, { recursive: true });
    const podIP = await this.addresses.claim();
    const logFile = join(this.dir, `${namespace}_${name}.log`);
    try {
      const fields = podFields(pod, podIP);
      for (const init of pod.spec.initContainers ?? []) {
        const initMounts = await materializeVolumes(this.client, pod, init, root);
        await runInit(key, init, envValues(init, initMounts, fields), root, logFile);
      }
      await dropUnmounted(pod, container, root);
      const mounts = await materializeVolumes(this.client, pod, container, root);
      const now = new Date();
      const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled')?.lastTransitionTime;
      const run: Run = {
        key,
        namespace,
        name,
        uid,
        container,
        port,
        env: { ...containerEnv(container, mounts, podIP, port, fields), ...this.extraEnv },
        root,
        logFile,
        child: undefined,
        stopping: false,
        timer: undefined,
        successes: 0,
        failures: 0,
        podIP,
        scheduledAt: scheduled === undefined ? now : new Date(scheduled),
        startedAt: now,
        process: undefined,
        ready: false,
        readySince: now,
        restartCount: 0,
        lastExit: undefined,
      };
      this.startProcess(run);
      return run;
    } catch (err) {
      await this.addresses.release(podIP);
      await rm(root, { recursive: true, force: true });
      throw err;
    }
  }

  private startProcess(run: Run): void {
    const log = createWriteStream(run.logFile, { flags: 'a' });
    const [program, argv] = processOf(run.container, this.images);
    const child = spawn(program, argv, {
      env: { PATH: process.env.PATH, ...run.env },
      cwd: run.root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Two sources, one log: it is closed once both are, never by whichever ends first.
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue;
      createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) =>
        this.logs.record(`${run.namespace}/${run.name}`, run.name, line),
      );
    }
    child.once('close', () => log.end());
    child.on('error', (err) => this.failed(run.key, err));
    const startedAt = new Date();
    run.child = child;
    run.process = { pid: child.pid ?? 0, startedAt };
    run.successes = 0;
    run.failures = 0;
    child.once('exit', (code, signal) => {
      if (run.child === child) run.child = undefined;
      if (run.stopping || this.stopped) return;
      // A crash: not ready until a new process says so, restarted after a backoff as the kubelet
      // does (shorter here, so a test sees the restart).
      clearTimeout(run.timer);
      run.process = undefined;
      run.lastExit = { exitCode: code ?? (signal === null ? 1 : 128), startedAt, finishedAt: new Date() };
      if (run.ready) run.readySince = new Date();
      run.ready = false;
      this.enqueue(run.key, () => this.writeStatus(run));
      const delay = RESTART_BACKOFF_MS[Math.min(run.restartCount, RESTART_BACKOFF_MS.length - 1)] as number;
      run.timer = setTimeout(() => {
        if (run.stopping || this.stopped) return;
        run.restartCount++;
        this.startProcess(run);
        this.enqueue(run.key, () => this.writeStatus(run));
      }, delay);
    });
    this.scheduleProbe(run, (run.container.readinessProbe?.initialDelaySeconds ?? 0) * 1000);
  }

  /**
   * The readiness probe as the pod spec gives it (HTTP GET or TCP, its period, timeout and
   * thresholds), checked as local mode checks a container function (readiness-check.ts).
   */
  private scheduleProbe(run: Run, delayMs: number): void {
    const spec = run.container.readinessProbe;
    const check = spec?.httpGet ?? spec?.tcpSocket;
    if (spec === undefined || check === undefined) {
      // No probe: ready once started, as the kubelet has it.
      if (!run.ready) this.setReady(run, true);
      return;
    }
    const named = check.port;
    const port =
      typeof named === 'number'
        ? named
        : (run.container.ports?.find((p) => p.name === named)?.containerPort ?? run.port);
    const readiness: Readiness =
      spec.httpGet !== undefined ? { httpGet: { path: spec.httpGet.path ?? '/' } } : { tcpSocket: {} };
    run.timer = setTimeout(async () => {
      if (run.stopping || run.child === undefined) return;
      const ok = await checkReadiness(run.podIP, port, readiness, (spec.timeoutSeconds ?? 1) * 1000);
      if (run.stopping || run.child === undefined) return;
      if (ok) {
        run.failures = 0;
        run.successes++;
        if (!run.ready && run.successes >= (spec.successThreshold ?? 1)) this.setReady(run, true);
      } else {
        run.successes = 0;
        run.failures++;
        if (run.ready && run.failures >= (spec.failureThreshold ?? 3)) this.setReady(run, false);
      }
      this.scheduleProbe(run, this.readinessPeriodMs ?? (spec.periodSeconds ?? 10) * 1000);
    }, delayMs);
  }

  private setReady(run: Run, ready: boolean): void {
    run.ready = ready;
    run.readySince = new Date();
    this.enqueue(run.key, () => this.writeStatus(run));
  }

  private async writeStatus(run: Run): Promise<void> {
    if (run.stopping || this.runs.get(run.key) !== run) return;
    try {
      await this.client.mergePatch(
        POD_RESOURCES.pods,
        run.namespace,
        run.name,
        { status: podStatus(run.container, run) },
        'status',
      );
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /**
   * The preStop sleep (within the grace), SIGTERM, then SIGKILL once the grace has passed; then
   * the address and files go. The pod is already out of its EndpointSlices: it is terminating.
   */
  private async terminate(run: Run, graceSeconds: number): Promise<void> {
    run.stopping = true;
    clearTimeout(run.timer);
    const child = run.child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      const deadline = Date.now() + graceSeconds * 1000;
      const preStopMs = Math.min(
        (run.container.lifecycle?.preStop?.sleep?.seconds ?? 0) * 1000,
        graceSeconds * 1000,
      );
      if (preStopMs > 0) await Promise.race([exited, new Promise((r) => setTimeout(r, preStopMs))]);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), Math.max(0, deadline - Date.now()));
      await exited;
      clearTimeout(timer);
    }
    await this.addresses.release(run.podIP);
    await rm(run.root, { recursive: true, force: true });
  }

  /** What the kubelet does once the containers are gone: the pod object goes too. */
  private async removePod(pod: Pod): Promise<void> {
    const { namespace, name, uid } = pod.metadata;
    try {
      await this.client.request('DELETE', resourcePath(POD_RESOURCES.pods, namespace, name), {
        body: {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          gracePeriodSeconds: 0,
          preconditions: { uid },
        },
      });
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
  }
}

/** How long an init container may run before it counts as failed (the runner's, not Kubernetes's). */
const INIT_DEADLINE_MS = 30_000;

/**
 * The local file an init container's script stands for. The runtime image's entrypoint is node
 * and its /app holds runtime-node/dist/*.cjs, as this repository's runtime-node/dist does; so an
 * init container of that image with `args: [/app/runtime-node/dist/<script>.cjs]` runs that
 * script from here. Anything else is refused: the runner has no images.
 */
export function initScript(init: PodContainer): string {
  const [script, ...rest] = init.args ?? [];
  const prefix = '/app/runtime-node/dist/';
  if (init.command !== undefined || script === undefined || rest.length > 0 || !script.startsWith(prefix)) {
    throw new Error(
      `init container ${init.name}: the runner runs only args: [${prefix}<script>.cjs] of the runtime image`,
    );
  }
  return join(dirname(runtimeEntryPath()), basename(script));
}

/** Runs one init container's script to completion; rejects, naming the log, unless it exits 0. */
function runInit(
  key: string,
  init: PodContainer,
  env: Record<string, string>,
  cwd: string,
  logFile: string,
): Promise<void> {
  const script = initScript(init);
  return new Promise((resolve, reject) => {
    const log = createWriteStream(logFile, { flags: 'a' });
    const child = spawn(process.execPath, [script], {
      env: { PATH: process.env.PATH, ...env },
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    const timer = setTimeout(() => child.kill('SIGKILL'), INIT_DEADLINE_MS);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      log.end();
      if (code === 0) resolve();
      else
        reject(new Error(`pod ${key}: init container ${init.name} exited ${code ?? signal}; see ${logFile}`));
    });
  });
}

/** A Ready node, registered once; nothing in the test plane watches its heartbeat. */
async function registerNode(client: KubeClient, name: string, kubeletPort: number): Promise<void> {
  await client.create(POD_RESOURCES.nodes, {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' } },
  });
  const now = apiTime(new Date());
  await client.mergePatch(
    POD_RESOURCES.nodes,
    undefined,
    name,
    {
      status: {
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'KubeletReady',
            message: 'the Nimbus test pod runner is running pods',
            lastHeartbeatTime: now,
            lastTransitionTime: now,
          },
        ],
        // The API server reaches a node's kubelet (its pods' logs) at the first address it prefers,
        // Hostname first: here, the runner's log endpoint on loopback.
        addresses: [{ type: 'Hostname', address: '127.0.0.1' }],
        daemonEndpoints: { kubeletEndpoint: { Port: kubeletPort } },
      },
    },
    'status',
  );
}

/**
 * The program a pod's container runs here. A container function's pod names its command, or an
 * image the runner was given a command for (the runner has no images of its own); it runs with
 * its args. The harness's runtime-python image is this repository's runtime-python, under the
 * interpreter local mode picks; anything else is runtime-node, whatever image it names.
 */
export function processOf(
  container: PodContainer,
  images: Readonly<Record<string, string[]>> = {},
): [string, string[]] {
  const [program, ...rest] = container.command ?? images[container.image] ?? [];
  if (program !== undefined) return [program, [...rest, ...(container.args ?? [])]];
  if (container.image === PYTHON_RUNTIME_IMAGE) return [pythonExecutable(), [pythonRuntimeEntryPath()]];
  return [process.execPath, [runtimeEntryPath()]];
}

/**
 * The one kubelet endpoint the API server proxies that Nimbus uses: a container's log
 * (`GET /containerLogs/{namespace}/{pod}/{container}`, with follow, tailLines, sinceTime and
 * timestamps as the pod log API passes them on), served over TLS with the API server's own
 * key, from the runner's record of each pod's output.
 */
async function serveContainerLogs(files: { cert: string; key: string }, logs: LogBook): Promise<Server> {
  const [cert, key] = await Promise.all([readFile(files.cert), readFile(files.key)]);
  const server = createHttpsServer({ cert, key }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    const [, kind, namespace, pod] = url.pathname.split('/');
    if (req.method !== 'GET' || kind !== 'containerLogs' || namespace === undefined || pod === undefined) {
      res.writeHead(404).end('not found');
      return;
    }
    const stop = new AbortController();
    res.on('close', () => stop.abort());
    const tail = url.searchParams.get('tailLines');
    const since = url.searchParams.get('sinceTime');
    const timestamps = url.searchParams.get('timestamps') === 'true';
    void logs
      .open(namespace, pod, {
        follow: url.searchParams.get('follow') === 'true',
        signal: stop.signal,
        ...(tail === null ? {} : { tail: Number(tail) }),
        ...(since === null ? {} : { since: new Date(since) }),
      })
      .then(async (lines) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.flushHeaders();
        for await (const line of lines)
          res.write(timestamps ? `${line.timestamp} ${line.text}\n` : `${line.text}\n`);
        res.end();
      })
      .catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}
