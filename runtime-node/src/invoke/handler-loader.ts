import { statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { errorMessage } from '@nimbus/api/log';
import { inject, injectable } from 'tsyringe';
import type { RuntimeConfig } from '../config.js';
import type { Handler } from '../contract.js';
import { TOKENS } from '../tokens.js';
import { resolveHandlerPath } from './handler-path.js';

export interface HandlerLoader {
  load(): Promise<Handler>;
}

/** Why the handler could not be loaded; its message is what /_/ready and every invoke report. */
export class HandlerLoadError extends Error {}

/** Loads NIMBUS_HANDLER from the function directory with a dynamic import(), ESM or CommonJS. */
@injectable()
export class ModuleHandlerLoader implements HandlerLoader {
  constructor(
    @inject(TOKENS.Config) private readonly config: Pick<RuntimeConfig, 'functionDir' | 'handler'>,
  ) {}

  async load(): Promise<Handler> {
    const { functionDir, handler } = this.config;
    let file: string;
    try {
      file = resolveHandlerPath(functionDir, handler.module, isFile);
    } catch (error) {
      throw new HandlerLoadError(errorMessage(error), { cause: error });
    }
    const name = path.relative(functionDir, file);
    let namespace: Record<string, unknown>;
    try {
      namespace = await import(pathToFileURL(file).href);
    } catch (error) {
      throw new HandlerLoadError(`handler module ${name} failed to load: ${named(error)}`, { cause: error });
    }
    const exported = pickExport(namespace, handler.exportName);
    if (typeof exported !== 'function') {
      throw new HandlerLoadError(
        `handler module ${name} has no function export ${JSON.stringify(handler.exportName)} (found ${describeValue(exported)})`,
      );
    }
    return exported as Handler;
  }
}

/**
 * The named export, looking through the shapes import() gives CommonJS: `module.exports = fn` is
 * `default`; `exports.handle` is usually a named export, but only if Node's static analysis saw it,
 * so it is also looked up on `default`; a transpiled `exports.default = fn` sits at `default.default`.
 */
export function pickExport(namespace: Record<string, unknown>, exportName: string): unknown {
  const direct = namespace[exportName];
  if (typeof direct === 'function') return direct;
  const commonJs = namespace.default;
  if (commonJs !== null && (typeof commonJs === 'object' || typeof commonJs === 'function')) {
    const nested = (commonJs as Record<string, unknown>)[exportName];
    if (typeof nested === 'function') return nested;
  }
  return direct;
}

/** `SyntaxError: Unexpected token` tells a function author more than the message alone. */
function named(error: unknown): string {
  return error instanceof Error && error.name !== 'Error'
    ? `${error.name}: ${error.message}`
    : errorMessage(error);
}

function isFile(file: string): boolean {
  return statSync(file, { throwIfNoEntry: false })?.isFile() ?? false;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  return `a value of type ${typeof value}`;
}
