import { DEFAULT_CONTAINER_PORT, type FunctionResource, handlerOf, parseDuration } from '@nimbus/api';

/**
 * The runtime settings a Function implies (runtime-node and runtime-python read the same keys),
 * whatever runs the replica (a local process or a pod): one mapping, so the two backends cannot
 * disagree about the contract.
 */
export function runtimeSettings(fn: FunctionResource): Record<string, string> {
  return {
    NIMBUS_FUNCTION_NAME: fn.metadata.name,
    NIMBUS_FUNCTION_NAMESPACE: fn.metadata.namespace,
    NIMBUS_HANDLER: handlerOf(fn.spec),
    NIMBUS_TIMEOUT_MS: String(parseDuration(fn.spec.timeout)),
    NIMBUS_CONCURRENCY: String(fn.spec.concurrency),
    // Room for a burst twice the concurrency before the replica answers 429.
    NIMBUS_QUEUE_SIZE: String(fn.spec.concurrency * 2),
  };
}

/**
 * What a container function is told about itself, whatever runs it: no handler, concurrency or
 * queue, which the gateway enforces for it. PORT is the backend's to give (the pod's port, or a
 * free one on loopback).
 */
export function containerSettings(fn: FunctionResource): Record<string, string> {
  return {
    NIMBUS_FUNCTION_NAME: fn.metadata.name,
    NIMBUS_FUNCTION_NAMESPACE: fn.metadata.namespace,
    NIMBUS_TIMEOUT_MS: String(parseDuration(fn.spec.timeout)),
  };
}

/** The port a container function's pods serve on. */
export function containerPort(fn: FunctionResource): number {
  return fn.spec.port ?? DEFAULT_CONTAINER_PORT;
}
