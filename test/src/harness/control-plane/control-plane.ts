import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, freePorts } from '@nimbus/testkit';
import { stopChild } from '@nimbus/testkit';
import { controlPlaneBinaries } from './assets.js';

export interface ApiReply<T = Record<string, unknown>> {
  status: number;
  body: T;
}

export interface ControlPlaneOptions {
  progress?: (line: string) => void;
  /**
   * Also run kube-controller-manager, so Deployments make ReplicaSets and Pods, Services get
   * EndpointSlices, and deleting an owner deletes what it owns. Off by default: most suites test
   * against the bare API server and start faster without it. Nothing here runs pods: see
   * `PodRunner` (../pod-runner.ts) for the kubelet's part.
   */
  controllerManager?: boolean;
  /**
   * Runs once the API server is ready, before kube-controller-manager starts. The garbage
   * collector discovers resources when it starts and then only every 30 s, so CRDs whose objects
   * own others (the Function CRD) belong here: installed later, their owners' deletions can go
   * unseen for that long.
   */
  beforeControllerManager?: (plane: ControlPlane) => Promise<void>;
  /**
   * What the real node (test/node) needs beyond this; every field left out keeps the default the
   * main suites run with.
   */
  node?: NodeControlPlaneOptions;
}

/** A control plane that a kubelet, kube-scheduler and kube-proxy join (test/node/harness/node.ts). */
export interface NodeControlPlaneOptions {
  /**
   * The address kube-apiserver binds and advertises instead of 127.0.0.1: the `kubernetes`
   * Service's endpoint, so it must be one pods can reach (never loopback).
   */
  bindAddress?: string;
  /** Instead of 10.96.0.0/16; its first address is `kubernetes.default` for pods. */
  serviceClusterIpRange?: string;
  /** Instead of `RBAC` alone, e.g. `['Node', 'RBAC']` for a kubelet's own user. */
  authorizationModes?: readonly string[];
  /** Further users for the token file (the kubelet's, the scheduler's, kube-proxy's…). */
  tokens?: readonly { token: string; user: string; groups?: readonly string[] }[];
  /** Further kube-apiserver flags (flags the harness sets are not to be repeated here). */
  apiServerArgs?: readonly string[];
  /** Instead of CONTROLLER_MANAGER_CONTROLLERS. */
  controllers?: readonly string[];
  /**
   * Further kube-controller-manager flags, e.g. `--endpointslice-updates-batch-period=3s` for a
   * test that must tell a replica used before its EndpointSlice from one used after.
   */
  controllerManagerArgs?: readonly string[];
  /**
   * Gives kube-controller-manager the API server's serving certificate as `--root-ca-file`, so
   * root-ca-cert-publisher puts it in every namespace's `kube-root-ca.crt`, which pods verify the
   * API server with.
   */
  publishRootCa?: boolean;
  /** Also build the node's binaries (kubelet, kube-scheduler, kube-proxy) and hand them out. */
  nodeBinaries?: boolean;
}

/**
 * The kube-controller-manager controllers Nimbus's objects need, and no more: the rest watch
 * objects no test makes, and each costs start-up time and log noise.
 */
export const CONTROLLER_MANAGER_CONTROLLERS = [
  // Function → Deployment → ReplicaSet → Pods.
  'deployment-controller',
  'replicaset-controller',
  // Service + ready pods → the EndpointSlices the gateway routes by.
  'endpointslice-controller',
  // Deleting a Function deletes what it owns, down to the pods; deleting a namespace empties it.
  'garbage-collector-controller',
  'namespace-controller',
  // The ServiceAccount admission plugin refuses pods in a namespace that has no `default` one yet.
  'serviceaccount-controller',
] as const;

/**
 * A real etcd and kube-apiserver on free loopback ports (DESIGN.md §9): token authentication,
 * RBAC, and a service-account key pair, so tests meet the same refusals a cluster gives.
 * Nothing is mocked at the HTTP level.
 */
export class ControlPlane {
  /** Every plane started and not yet stopped, so the run's end can kill one its suite lost track of. */
  private static readonly running = new Set<ControlPlane>();

  private constructor(
    private readonly processes: ChildProcess[],
    private readonly relaunchApiServer: () => ChildProcess,
    private readonly dir: string,
    private readonly etcdUrl: string,
    readonly url: string,
    /** A bearer token in system:masters. */
    readonly adminToken: string,
    /** The API server's self-signed serving certificate, trusted as its own CA. */
    readonly caCert: string,
    readonly kubeconfigPath: string,
  ) {}

  /**
   * The API server's self-signed serving key and certificate, as files: a stand-in kubelet
   * serves with them (the API server checks no kubelet's certificate unless told a CA).
   */
  get servingCertFiles(): { cert: string; key: string } {
    return { cert: join(this.dir, 'certs', 'apiserver.crt'), key: join(this.dir, 'certs', 'apiserver.key') };
  }

  /** Options, or (as older callers pass it) just the progress callback. */
  static async start(options: ControlPlaneOptions | ((line: string) => void) = {}): Promise<ControlPlane> {
    const {
      progress = (l: string) => process.stderr.write(`${l}\n`),
      controllerManager = false,
      beforeControllerManager,
      node = {},
    } = typeof options === 'function' ? { progress: options } : options;
    const binaries = await controlPlaneBinaries(progress, {
      controllerManager,
      node: node.nodeBinaries === true,
    });
    const dir = await mkdtemp(join(tmpdir(), 'nimbus-control-plane-'));
    const processes: ChildProcess[] = [];
    try {
      const [etcdClient, etcdPeer, apiPort] = (await freePorts(3)) as [number, number, number];
      const adminToken = randomBytes(24).toString('hex');
      // kube-controller-manager signs in as the user the default RBAC policy grants its role to.
      const controllerManagerToken = randomBytes(24).toString('hex');
      // token,user,uid[,"group1,group2"]
      const tokenLines = [
        `${adminToken},nimbus-test-admin,nimbus-test-admin,system:masters`,
        `${controllerManagerToken},system:kube-controller-manager,system:kube-controller-manager`,
        ...(node.tokens ?? []).map(({ token, user, groups = [] }) =>
          [token, user, user, ...(groups.length > 0 ? [`"${groups.join(',')}"`] : [])].join(','),
        ),
      ];
      await writeFile(join(dir, 'tokens.csv'), tokenLines.map((line) => `${line}\n`).join(''));
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      await writeFile(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
      await writeFile(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));

      const etcdUrl = `http://127.0.0.1:${etcdClient}`;
      processes.push(
        launch(binaries.etcd, dir, 'etcd', [
          `--data-dir=${join(dir, 'etcd')}`,
          `--listen-client-urls=${etcdUrl}`,
          `--advertise-client-urls=${etcdUrl}`,
          `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
          `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
          '--unsafe-no-fsync=true',
        ]),
      );
      const apiServerArgs = [
        `--etcd-servers=${etcdUrl}`,
        `--bind-address=${node.bindAddress ?? '127.0.0.1'}`,
        ...(node.bindAddress === undefined ? [] : [`--advertise-address=${node.bindAddress}`]),
        `--secure-port=${apiPort}`,
        `--cert-dir=${join(dir, 'certs')}`,
        `--token-auth-file=${join(dir, 'tokens.csv')}`,
        `--authorization-mode=${(node.authorizationModes ?? ['RBAC']).join(',')}`,
        '--service-account-issuer=https://kubernetes.default.svc',
        `--service-account-key-file=${join(dir, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
        `--service-cluster-ip-range=${node.serviceClusterIpRange ?? '10.96.0.0/16'}`,
        '--allow-privileged=true',
        ...(node.apiServerArgs ?? []),
      ];
      const relaunchApiServer = () => launch(binaries.kubeApiserver, dir, 'kube-apiserver', apiServerArgs);
      processes.push(relaunchApiServer());
      const url = `https://${node.bindAddress ?? '127.0.0.1'}:${apiPort}`;
      // Waiting stops at once when a process dies (a port taken, a bad flag), naming why.
      const died = firstExit(processes, dir);
      // Once started, processes exit at stop(): nobody waits on this any more.
      died.catch(() => {});
      const caCert = await Promise.race([
        eventually(
          () => readFile(join(dir, 'certs', 'apiserver.crt'), 'utf8'),
          60_000,
          'the API server to write its serving certificate',
        ),
        died,
      ]);
      const plane = new ControlPlane(
        processes,
        relaunchApiServer,
        dir,
        etcdUrl,
        url,
        adminToken,
        caCert,
        join(dir, 'kubeconfig'),
      );
      ControlPlane.running.add(plane);
      await Promise.race([plane.ready(90_000), died]);
      await writeFile(plane.kubeconfigPath, JSON.stringify(plane.kubeconfig(), null, 2));
      if (controllerManager) {
        await beforeControllerManager?.(plane);
        const kubeconfig = join(dir, 'kube-controller-manager.kubeconfig');
        await writeFile(kubeconfig, JSON.stringify(plane.kubeconfig(controllerManagerToken), null, 2));
        const manager = launch(binaries.kubeControllerManager as string, dir, 'kube-controller-manager', [
          ...controllerManagerArgs(kubeconfig, node.controllers),
          ...(node.controllerManagerArgs ?? []),
          ...(node.publishRootCa ? [`--root-ca-file=${join(dir, 'certs', 'apiserver.crt')}`] : []),
        ]);
        processes.push(manager);
        const managerDied = firstExit([manager], dir);
        managerDied.catch(() => {});
        await Promise.race([plane.controllersRunning(60_000), managerDied, died]);
      }
      return plane;
    } catch (err) {
      await stopAll(processes);
      throw err;
    }
  }

  /**
   * kube-controller-manager serves nothing here (`--secure-port=0`); that the ServiceAccount
   * controller has made `default/default` shows it signed in, was authorized, synced its
   * informers and runs its controllers.
   */
  private controllersRunning(ms: number): Promise<true> {
    return eventually(
      async () =>
        (await this.request('GET', '/api/v1/namespaces/default/serviceaccounts/default')).status === 200
          ? true
          : undefined,
      ms,
      `kube-controller-manager to run its controllers (logs in ${this.dir})`,
    );
  }

  private ready(ms: number): Promise<true> {
    return eventually(
      async () =>
        (await this.request('GET', '/readyz').catch(() => undefined))?.status === 200 ? true : undefined,
      ms,
      `the API server at ${this.url} to be ready (logs in ${this.dir})`,
    );
  }

  /**
   * Stops kube-apiserver and starts it again on the same port and etcd, as an upgrade or a crash
   * does: clients see their connections drop and their watches' resource versions expire.
   * `whileDown` runs between the two, with the server gone.
   */
  async restartApiServer(whileDown: () => Promise<void> = async () => {}): Promise<void> {
    const index = this.processes.findIndex((p) => p.spawnfile.endsWith('kube-apiserver'));
    const old = this.processes[index];
    if (old === undefined) throw new Error('no kube-apiserver in this control plane');
    await stopAll([old]);
    await whileDown();
    const fresh = this.relaunchApiServer();
    this.processes[index] = fresh;
    const died = new Promise<never>((_, reject) =>
      fresh.once('exit', (code, signal) =>
        reject(new Error(`kube-apiserver exited (${signal ?? code}) on restart`)),
      ),
    );
    died.catch(() => {});
    await Promise.race([this.ready(90_000), died]);
  }

  /**
   * Compacts etcd's history up to its current revision, as the API server does every few minutes:
   * a watch that resumes from an older resource version then gets 410 Gone and must list again.
   */
  async compactEtcd(): Promise<number> {
    const range = await fetch(`${this.etcdUrl}/v3/kv/range`, {
      method: 'POST',
      body: JSON.stringify({ key: Buffer.from('/').toString('base64') }),
    });
    const revision = ((await range.json()) as { header: { revision: string } }).header.revision;
    const compacted = await fetch(`${this.etcdUrl}/v3/kv/compaction`, {
      method: 'POST',
      body: JSON.stringify({ revision, physical: true }),
    });
    if (!compacted.ok)
      throw new Error(`etcd compaction to ${revision}: ${compacted.status} ${await compacted.text()}`);
    return Number(revision);
  }

  /**
   * A kubeconfig (JSON is YAML) for clients such as @kubernetes/client-node and kubectl, as the
   * admin unless another bearer token is given.
   */
  kubeconfig(token: string = this.adminToken): Record<string, unknown> {
    return {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'nimbus-test',
          cluster: {
            server: this.url,
            'certificate-authority-data': Buffer.from(this.caCert).toString('base64'),
          },
        },
      ],
      users: [{ name: 'nimbus-test-admin', user: { token } }],
      contexts: [{ name: 'nimbus-test', context: { cluster: 'nimbus-test', user: 'nimbus-test-admin' } }],
      'current-context': 'nimbus-test',
    };
  }

  /** One REST call, as the admin unless another token is given (`null`: anonymous). */
  request<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    token: string | null = this.adminToken,
  ): Promise<ApiReply<T>> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(`${this.url}${path}`, {
        method,
        ca: this.caCert,
        headers: {
          accept: 'application/json',
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        },
        timeout: 10_000,
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in time`)));
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // /readyz and friends answer plain text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed as T });
        });
      });
      req.end(payload);
    });
  }

  /** For exit handlers, where nothing can be awaited: SIGKILL each process by its PID. */
  killNow(): void {
    for (const child of this.processes)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  /** SIGKILLs every plane not stopped yet: for the end of a test run. */
  static killLeftOver(): void {
    for (const plane of ControlPlane.running) plane.killNow();
    ControlPlane.running.clear();
  }

  async stop(): Promise<void> {
    ControlPlane.running.delete(this);
    await stopAll([...this.processes].reverse());
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * kube-controller-manager as a cluster runs it: leader election off (one replica), and each
 * controller with its own service account's token (`--use-service-account-credentials`), so the
 * default RBAC policy's per-controller roles are what they act under, as in kubeadm clusters,
 * rather than the broad role of the manager's own user. Those tokens come from the TokenRequest
 * API, so `--service-account-private-key-file` is not needed: it serves only the legacy token
 * Secrets of serviceaccount-token-controller, which is not run. `--root-ca-file` is given only
 * for the real node (`publishRootCa`), whose pods read it from `kube-root-ca.crt`.
 */
function controllerManagerArgs(
  kubeconfig: string,
  controllers: readonly string[] = CONTROLLER_MANAGER_CONTROLLERS,
): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    '--leader-elect=false',
    '--use-service-account-credentials=true',
    `--controllers=${controllers.join(',')}`,
    // Nothing scrapes or probes it; readiness is judged from what it does (controllersRunning).
    '--secure-port=0',
    // The defaults (20 and 30) are for sharing a production API server; a test wants speed.
    '--kube-api-qps=200',
    '--kube-api-burst=400',
  ];
}

/** Rejects when any of the processes exits, with the end of its log. */
function firstExit(processes: ChildProcess[], dir: string): Promise<never> {
  return new Promise((_, reject) => {
    for (const child of processes) {
      child.once('exit', async (code, signal) => {
        const name = child.spawnfile.split('/').at(-1) ?? 'a process';
        const log = await readFile(join(dir, `${name}.log`), 'utf8').catch(() => '');
        const tail = log.trim().split('\n').slice(-5).join('\n');
        reject(new Error(`${name} exited (${signal ?? code}) while the control plane started:\n${tail}`));
      });
    }
  });
}

function launch(binary: string, dir: string, name: string, args: string[]): ChildProcess {
  const child = spawn(binary, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(join(dir, `${name}.log`), { flags: 'a' });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return child;
}

/** SIGTERM each process this harness started, by its PID; SIGKILL what is still up after 10 s. */
async function stopAll(processes: ChildProcess[]): Promise<void> {
  for (const child of processes) await stopChild(child, 10_000);
}
