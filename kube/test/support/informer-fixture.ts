import assert from 'node:assert/strict';
import { createLogger } from '@nimbus/api';
import { ManualClock, settle } from '@nimbus/testkit';
import {
  Informer,
  type InformerOptions,
  KubeApiError,
  type KubeList,
  type KubeObject,
  RESOURCES,
} from '../../src/index.js';
import { FakeListWatch } from './fake-list-watch.js';

const quiet = createLogger({}, 'error', () => {});

export const cm = (name: string, resourceVersion: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'ns', resourceVersion },
});

export const listOf = (resourceVersion: string, ...items: KubeObject[]): KubeList<KubeObject> => ({
  metadata: { resourceVersion },
  items,
});

export const gone = () => new KubeApiError(410, 'Expired', 'too old resource version: 1 (5)');
export const unreachable = () =>
  new KubeApiError(0, 'Unreachable', 'GET /api/v1/namespaces/ns/configmaps: ECONNREFUSED');

/** The informers a test made, stopped after it; none may leave a timer behind. */
let made: { informer: Informer<KubeObject>; clock: ManualClock }[] = [];

/** An informer on a fake API server and a manual clock; `seen` holds its events as lines. */
export function setup(options: Partial<InformerOptions> = {}, random = () => 0.5) {
  const api = new FakeListWatch<KubeObject>();
  const clock = new ManualClock();
  const informer = new Informer<KubeObject>(
    api,
    { resource: RESOURCES.configMaps, namespace: 'ns', ...options },
    quiet,
    clock,
    random,
  );
  const seen: string[] = [];
  informer.on((e) =>
    seen.push(
      e.type === 'updated'
        ? `updated ${e.object.metadata.name} ${e.old.metadata.resourceVersion}→${e.object.metadata.resourceVersion}`
        : `${e.type} ${e.object.metadata.name}`,
    ),
  );
  made.push({ informer, clock });
  return { api, clock, informer, seen };
}

/** Started, listed (`items` at version `resourceVersion`) and watching. */
export async function watching(resourceVersion: string, ...items: KubeObject[]) {
  const t = setup();
  t.api.reply(listOf(resourceVersion, ...items));
  t.informer.start();
  await settle();
  assert.equal(t.api.watches.length, 1, 'the informer watches after its first list');
  t.seen.length = 0;
  return t;
}

export const names = (informer: Informer<KubeObject>) => informer.list().map((o) => o.metadata.name);

/** For afterEach: stops every informer a test made and checks that none left a timer behind. */
export async function stopInformers(): Promise<void> {
  for (const { informer, clock } of made) {
    await informer.stop();
    assert.equal(clock.pending, 0, 'a timer is left after stop()');
  }
  made = [];
}
