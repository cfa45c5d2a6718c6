import { randomBytes } from 'node:crypto';
import { functionCrd } from '@nimbus/api';
import { eventually } from '@nimbus/testkit';
import { ControlPlane } from './control-plane.js';

let shared: Promise<ControlPlane> | undefined;

/**
 * One control plane for the whole mocha run, with the Function CRD installed and established.
 * Suites keep out of each other's way by working in namespaces of their own (`freshNamespace`);
 * a suite that restarts or breaks the API server starts a ControlPlane of its own instead.
 * The root hook in `root-hooks.ts` stops it when the run ends.
 */
export function sharedControlPlane(): Promise<ControlPlane> {
  shared ??= ControlPlane.start().then(async (plane) => {
    try {
      await installFunctionCrd(plane);
      return plane;
    } catch (err) {
      await plane.stop();
      throw err;
    }
  });
  return shared;
}

export async function stopSharedControlPlane(): Promise<void> {
  const plane = await shared?.catch(() => undefined);
  shared = undefined;
  await plane?.stop();
}

/** Creates the Function CRD and waits until the API server serves it. */
export async function installFunctionCrd(plane: ControlPlane): Promise<void> {
  const created = await plane.request<{ message?: string }>(
    'POST',
    '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
    functionCrd(),
  );
  if (created.status !== 201)
    throw new Error(`creating the Function CRD: ${created.status} ${created.body.message}`);
  await eventually(
    async () => {
      const crd = await plane.request<{ status?: { conditions?: { type: string; status: string }[] } }>(
        'GET',
        '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/functions.nimbus.dev',
      );
      const established = crd.body.status?.conditions?.find((c) => c.type === 'Established');
      return established?.status === 'True' ? true : undefined;
    },
    30_000,
    'the Function CRD to be established',
  );
  // Discovery (which clients use to find the resource) catches up a moment after Established.
  await eventually(
    async () => {
      const group = await plane.request<{ resources?: { name: string }[] }>(
        'GET',
        '/apis/nimbus.dev/v1alpha1',
      );
      return group.body.resources?.some((r) => r.name === 'functions') ? true : undefined;
    },
    15_000,
    'discovery to list functions',
  );
}

/** A namespace no other suite uses, named `<prefix>-<random>`. */
export async function freshNamespace(plane: ControlPlane, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  const created = await plane.request<{ message?: string }>('POST', '/api/v1/namespaces', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name },
  });
  if (created.status !== 201)
    throw new Error(`creating namespace ${name}: ${created.status} ${created.body.message}`);
  return name;
}
