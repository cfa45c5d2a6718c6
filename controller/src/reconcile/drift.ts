/**
 * Where an object on the server differs from what Nimbus would apply, or undefined when every
 * field Nimbus sets holds the value it would set. Fields the server or other managers added are
 * not differences (defaults, status, annotations of other tools): only what Nimbus owns counts.
 * Pure; the answer decides whether an apply is sent at all. Compare what an object holds, not
 * its type: items of a list come without apiVersion and kind.
 */
export function firstDifference(desired: unknown, observed: unknown, path = ''): string | undefined {
  // The server leaves zero values (false, 0, "") and empty lists and maps out of what it returns.
  if (observed === undefined && isZero(desired)) return undefined;
  if (Array.isArray(desired)) {
    if (!Array.isArray(observed) || observed.length !== desired.length) return path || '.';
    for (let i = 0; i < desired.length; i++) {
      const found = firstDifference(desired[i], observed[i], `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (desired !== null && typeof desired === 'object') {
    if (observed === null || typeof observed !== 'object' || Array.isArray(observed)) return path || '.';
    for (const [key, value] of Object.entries(desired)) {
      if (value === undefined) continue;
      const found = firstDifference(
        value,
        (observed as Record<string, unknown>)[key],
        path ? `${path}.${key}` : key,
      );
      if (found !== undefined) return found;
    }
    return undefined;
  }
  return desired === observed ? undefined : path || '.';
}

function isZero(value: unknown): boolean {
  if (value === false || value === 0 || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  return value !== null && typeof value === 'object' && Object.keys(value).length === 0;
}
