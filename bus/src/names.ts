import { BusConfigError } from './errors.js';

/**
 * Stream and consumer names become subject tokens and file-store directory names, so they hold
 * no dots, wildcards, whitespace or path separators.
 */
export function checkName(name: string, what: string): void {
  if (name === '' || name.length > 255 || /[\s.*>/\\]/.test(name))
    throw new BusConfigError(
      `${what} "${name}" must be 1-255 characters without dots, wildcards, whitespace or slashes`,
    );
}
