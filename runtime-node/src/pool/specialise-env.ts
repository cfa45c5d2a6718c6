/** A specialise command's env map that cannot be used; `field` names the part, e.g. `env.FOO`. */
export class SpecialiseInputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'SpecialiseInputError';
  }
}

// Anything that can be an environment variable: no `=` in the name, no NUL anywhere.
const NAME = /^[^=\0]+$/;

/**
 * The `env` of a specialise command (IPC message or HTTP body), checked to be what an environment
 * can hold: names to strings. Returns a frozen copy without a prototype, so a `__proto__` key is
 * just a key.
 */
export function functionEnv(value: unknown): Readonly<Record<string, string>> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SpecialiseInputError('env', 'env must be an object of environment variables (name to string)');
  }
  const env: Record<string, string> = Object.create(null);
  for (const [name, entry] of Object.entries(value)) {
    if (!NAME.test(name)) {
      throw new SpecialiseInputError(
        `env.${name}`,
        `env names must be non-empty, without "=" or NUL, got ${JSON.stringify(name)}`,
      );
    }
    if (typeof entry !== 'string' || entry.includes('\0')) {
      throw new SpecialiseInputError(`env.${name}`, `env.${name} must be a string without NUL`);
    }
    env[name] = entry;
  }
  return Object.freeze(env);
}
