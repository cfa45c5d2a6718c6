import { ConfigError } from '@nimbus/api';
import type { Rate } from './rate-limit-plan.js';

const RATE = /^(\d+(?:\.\d+)?)(?:\/(\d+))?$/;

/**
 * `<requests per second>[/<burst>]`, such as `50/100` or `0.5`: a key's rate limit in
 * NIMBUS_API_KEYS (`invoke:<key>;rate=50/100`) and NIMBUS_KEY_RATE_LIMIT. Burst defaults to
 * the rate rounded up. Throws a ConfigError naming `setting`.
 */
export function parseRate(text: string, setting: string, where = ''): Rate {
  const match = RATE.exec(text.trim());
  const perSecond = Number(match?.[1]);
  const burst = match?.[2] === undefined ? Math.max(1, Math.ceil(perSecond)) : Number(match[2]);
  if (
    match === null ||
    !(perSecond >= 0.001 && perSecond <= 1_000_000) ||
    !(burst >= 1 && burst <= 1_000_000)
  )
    throw new ConfigError(
      setting,
      `${where}"${text}" is not a rate: use <requests per second>[/<burst>], such as 50/100, with a rate of 0.001-1000000 and a burst of 1-1000000`,
    );
  return Object.freeze({ perSecond, burst });
}
