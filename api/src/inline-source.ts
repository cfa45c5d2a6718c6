import type { FunctionSpec, Runtime } from './function.js';

/** How inline code (`spec.source.inline`) is named on disk, the same in a pod and in local mode. */

/** The handler a Python function runs when its spec leaves the (Node-flavoured) default. */
export const PYTHON_DEFAULT_HANDLER = 'main.handle';
const SCHEMA_DEFAULT_HANDLER = 'index.default';

/**
 * The handler the runtime is told to run. The schema's default, `index.default`, is a Node
 * module's default export; a python3.11 function that leaves it runs `main.handle`.
 */
export function handlerOf(spec: Pick<FunctionSpec, 'runtime' | 'handler'>): string {
  return spec.runtime === 'python3.11' && spec.handler === SCHEMA_DEFAULT_HANDLER
    ? PYTHON_DEFAULT_HANDLER
    : spec.handler;
}

/** `index.default` → `index`; `lib/main.cjs.handle` → `lib/main.cjs`. */
export function handlerModule(handler: string): string {
  return handler.slice(0, handler.lastIndexOf('.'));
}

/**
 * Inline code is written as an ES module unless the handler names a .cjs or .js file; for
 * python3.11, as `<module>.py`.
 */
export function inlineFileName(handler: string, runtime: Runtime = 'node20'): string {
  const module = handlerModule(handler);
  if (runtime === 'python3.11') return module.endsWith('.py') ? module : `${module}.py`;
  return /\.(mjs|cjs|js)$/.test(module) ? module : `${module}.mjs`;
}
