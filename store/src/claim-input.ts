import { InvalidStoreInputError } from './errors.js';
import { checkId } from './keys.js';

export function checkClaim(key: string, owner: string, ttlMs?: unknown): void {
  checkId('claim key', key);
  checkId('claim owner', owner);
  if (ttlMs !== undefined && (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs <= 0))
    throw new InvalidStoreInputError(`a claim's ttlMs must be a positive whole number, got ${String(ttlMs)}`);
}
