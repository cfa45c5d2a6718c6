import { execFile } from 'node:child_process';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually } from '@nimbus/testkit';
import { parse } from 'yaml';
import { goBinary } from './control-plane/assets.js';
import type { ControlPlane } from './control-plane/control-plane.js';
import { readZipEntry } from './zip-entry.js';

const run = promisify(execFile);

/**
 * The Gateway API release whose standard-channel CRDs the chart's HTTPRoute is checked against:
 * the newest the machine's Go toolchain accepts (v1.7.0 asks for Go 1.27).
 */
export const GATEWAY_API_VERSION = 'v1.6.3';
const MODULE = 'sigs.k8s.io/gateway-api';

/** The kinds a route and the Gateway it attaches to need; the other CRDs of the release are left out. */
const RESOURCES = ['gatewayclasses', 'gateways', 'httproutes'] as const;

interface Crd {
  metadata: { name: string };
  spec: { group: string; versions: { name: string }[] };
}

const cacheDir = () =>
  join(
    process.env.XDG_CACHE_HOME || join(homedir(), '.cache'),
    'nimbus',
    `gateway-api-${GATEWAY_API_VERSION}`,
  );

const fileOf = (resource: string) => `gateway.networking.k8s.io_${resource}.yaml`;

const readCached = async (path: string): Promise<string | undefined> =>
  readFile(path, 'utf8').catch(() => undefined);

/**
 * The Gateway API CRDs as the project publishes them, taken once per machine out of the module
 * zip the Go module proxy serves (`go mod download`, the one registry reachable here; the zip
 * holds config/crd/standard) into `~/.cache/nimbus/gateway-api-<version>/`.
 */
export async function gatewayApiCrds(
  progress: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<Crd[]> {
  const dir = cacheDir();
  const texts = await Promise.all(RESOURCES.map((r) => readCached(join(dir, fileOf(r)))));
  if (texts.some((t) => t === undefined)) {
    progress(
      `fetching the Gateway API ${GATEWAY_API_VERSION} CRDs through the Go module proxy (first run only)…`,
    );
    // Outside any module, so no go.mod is read or written.
    const { stdout } = await run(
      await goBinary(),
      ['mod', 'download', '-json', `${MODULE}@${GATEWAY_API_VERSION}`],
      {
        cwd: tmpdir(),
        maxBuffer: 4 * 1024 * 1024,
        timeout: 10 * 60_000,
      },
    );
    const download = JSON.parse(stdout) as { Zip?: string; Error?: string };
    if (download.Zip === undefined || download.Error !== undefined)
      throw new Error(`go mod download ${MODULE}@${GATEWAY_API_VERSION}: ${download.Error ?? 'no zip'}`);
    await mkdir(dir, { recursive: true });
    for (const [i, resource] of RESOURCES.entries()) {
      const entry = `${MODULE}@${GATEWAY_API_VERSION}/config/crd/standard/${fileOf(resource)}`;
      const text = (await readZipEntry(download.Zip, entry)).toString('utf8');
      // Written under another name and renamed: a run cut short never leaves a file later runs trust.
      const partial = join(dir, `${fileOf(resource)}.partial-${process.pid}`);
      await writeFile(partial, text);
      await rename(partial, join(dir, fileOf(resource)));
      texts[i] = text;
    }
  }
  return texts.map((text) => parse(text as string) as Crd);
}

/**
 * Creates the GatewayClass, Gateway and HTTPRoute CRDs (kept when already there, as on a shared
 * control plane) and waits until discovery serves gateway.networking.k8s.io/v1 with all three, so
 * their OpenAPI schemas and CEL rules judge what is created next.
 */
export async function installGatewayApiCrds(plane: ControlPlane): Promise<void> {
  for (const crd of await gatewayApiCrds()) {
    const created = await plane.request<{ message?: string }>(
      'POST',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      crd,
    );
    if (created.status !== 201 && created.status !== 409)
      throw new Error(`creating the CRD ${crd.metadata.name}: ${created.status} ${created.body.message}`);
  }
  await eventually(
    async () => {
      const group = await plane.request<{ resources?: { name: string }[] }>(
        'GET',
        '/apis/gateway.networking.k8s.io/v1',
      );
      const served = new Set(group.body.resources?.map((r) => r.name));
      return RESOURCES.every((r) => served.has(r)) ? true : undefined;
    },
    30_000,
    'discovery to serve the Gateway API kinds',
  );
}
