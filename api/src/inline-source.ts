/** How inline code (`spec.source.inline`) is named on disk, the same in a pod and in local mode. */

/** `index.default` → `index`; `lib/main.cjs.handle` → `lib/main.cjs`. */
export function handlerModule(handler: string): string {
  return handler.slice(0, handler.lastIndexOf('.'));
}

/** Inline code is written as an ES module unless the handler names a .cjs or .js file. */
export function inlineFileName(handler: string): string {
  const module = handlerModule(handler);
  return /\.(mjs|cjs|js)$/.test(module) ? module : `${module}.mjs`;
}
