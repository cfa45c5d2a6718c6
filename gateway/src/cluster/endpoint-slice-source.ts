import { functionKey } from '@nimbus/api';
import type { InformerEvent } from '@nimbus/kube';
import { inject, injectable } from 'tsyringe';
import type { EndpointAddress } from '../routing/route-table.js';
import { TOKENS } from '../tokens.js';
import { type EndpointSlice, functionOfSlice, readyEndpoints, startingEndpoints } from './endpoint-slice.js';

/** The events of the EndpointSlice informers; all this source needs of them. */
export interface SliceEvents {
  on(handler: (event: InformerEvent<EndpointSlice>) => void): unknown;
}

/**
 * Groups EndpointSlices by function and tells which of a function's replicas are ready. Slices are
 * kept whether or not their Function is known yet (they may arrive first); the Function source
 * asks for them when its route appears, and hears from here when they change.
 */
@injectable()
export class EndpointSliceSource {
  /** function key → slice name → slice */
  private readonly byFunction = new Map<string, Map<string, EndpointSlice>>();
  private readonly listeners: ((namespace: string, name: string) => void)[] = [];

  constructor(@inject(TOKENS.EndpointSliceInformers) slices: SliceEvents) {
    slices.on((event) => this.apply(event));
  }

  /** Called with a function's namespace and name whenever its slices change. */
  onChange(listener: (namespace: string, name: string) => void): void {
    this.listeners.push(listener);
  }

  endpointsOf(namespace: string, name: string): EndpointAddress[] {
    const slices = this.byFunction.get(functionKey(namespace, name));
    return slices === undefined ? [] : readyEndpoints([...slices.values()]);
  }

  /** A function's replicas listed but not ready yet, and not terminating: new pods starting. */
  startingOf(namespace: string, name: string): EndpointAddress[] {
    const slices = this.byFunction.get(functionKey(namespace, name));
    return slices === undefined ? [] : startingEndpoints([...slices.values()]);
  }

  private apply(event: InformerEvent<EndpointSlice>): void {
    const sliceName = event.object.metadata.name ?? '';
    const before = event.type === 'updated' ? functionOfSlice(event.old) : undefined;
    const now = functionOfSlice(event.object);
    if (event.type === 'deleted') {
      if (now !== undefined) this.drop(now, sliceName);
    } else {
      // A slice relabelled to another Service leaves its old function.
      if (before !== undefined && (before.name !== now?.name || before.namespace !== now?.namespace))
        this.drop(before, sliceName);
      if (now !== undefined) this.keep(now, sliceName, event.object);
    }
  }

  private keep(fn: { namespace: string; name: string }, sliceName: string, slice: EndpointSlice): void {
    const key = functionKey(fn.namespace, fn.name);
    let slices = this.byFunction.get(key);
    if (slices === undefined) {
      slices = new Map();
      this.byFunction.set(key, slices);
    }
    slices.set(sliceName, slice);
    this.notify(fn);
  }

  private drop(fn: { namespace: string; name: string }, sliceName: string): void {
    const key = functionKey(fn.namespace, fn.name);
    const slices = this.byFunction.get(key);
    if (slices === undefined || !slices.delete(sliceName)) return;
    if (slices.size === 0) this.byFunction.delete(key);
    this.notify(fn);
  }

  private notify(fn: { namespace: string; name: string }): void {
    for (const listener of this.listeners) listener(fn.namespace, fn.name);
  }
}
