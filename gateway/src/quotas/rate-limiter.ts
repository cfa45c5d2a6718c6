import type { Clock, Logger } from '@nimbus/api';
import { MemoryRateLimitStore, type RateDecision, type RateLimitStore } from '@nimbus/store';
import { Counter, type Registry } from 'prom-client';
import { type ApiKeyVerifier, bearerToken } from '../auth/api-keys.js';
import { type Problem, problems } from '../http/problems.js';
import type { FunctionRoute } from '../routing/route-table.js';
import {
  type Caller,
  type PlannedBucket,
  type SignedIn,
  bucketsFor,
  retryAfterSeconds,
} from './rate-limit-plan.js';

/** A log line about the shared counters being away at most this often, not one per call. */
const WARN_EVERY_MS = 10_000;

/**
 * Rate limits at the gateway's front doors (sync and async invoke), before a call is queued or
 * sent anywhere: the function's limit, its anonymous callers' limit, each caller's limit on it, and
 * the caller's key's limit (rate-limit-plan.ts), as token buckets shared by every gateway replica through the
 * RateLimitStore (Redis; in memory in local mode). A call refused by any bucket takes no token
 * from the others and is answered 429 with Retry-After.
 *
 * When the shared store cannot be reached the limits still hold, per gateway replica, in memory:
 * neither fail-open (Redis down would lift every limit just when a flood may have caused it) nor
 * fail-closed (an outage of the counters would refuse every call, though invocations that do not
 * touch state keep working without Redis, DESIGN §6). N replicas then admit up to N times the
 * limit; the fallback is counted and logged.
 */
export class RateLimiter {
  private readonly limited: Counter<'function' | 'namespace' | 'scope'>;
  private readonly fallbacks: Counter;
  private readonly local: RateLimitStore;
  private warnedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly store: RateLimitStore,
    private readonly keys: ApiKeyVerifier,
    registry: Registry,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.local = new MemoryRateLimitStore(clock);
    this.limited = new Counter({
      name: 'nimbus_rate_limited_total',
      help: 'Calls refused with 429 by a rate limit, by function and by the limit that refused them (function, anonymous, caller, key).',
      labelNames: ['function', 'namespace', 'scope'],
      registers: [registry],
    });
    this.fallbacks = new Counter({
      name: 'nimbus_rate_limit_fallbacks_total',
      help: "Rate-limit decisions made with this gateway's own counters because the shared ones (Redis) could not be reached.",
      registers: [registry],
    });
  }

  /**
   * undefined when no limit applies to the call (no I/O, nothing allocated: the common case stays
   * synchronous); otherwise resolves the 429 to answer with, or undefined when it is admitted.
   * `signedIn`: the verified token's claims, for a Function with auth jwt; its Authorization
   * header is then the token, not a key.
   */
  check(
    route: FunctionRoute,
    authorization: string | undefined,
    signedIn?: SignedIn,
  ): Promise<Problem | undefined> | undefined {
    if (route.rateLimit === undefined && !this.keys.limited) return undefined;
    const caller: Caller =
      signedIn === undefined ? this.callerOf(authorization) : { keyId: undefined, signedIn };
    const buckets = bucketsFor(route, caller);
    if (buckets.length === 0) return undefined;
    return this.take(route, buckets);
  }

  private callerOf(authorization: string | undefined): Caller {
    const token = bearerToken(authorization);
    if (token === undefined) return { keyId: undefined };
    if (this.keys.identify === undefined)
      return this.keys.scopesOf(token) === undefined
        ? { keyId: undefined }
        : { keyId: 'unlimited', keyRate: undefined };
    const identity = this.keys.identify(token);
    return identity === undefined ? { keyId: undefined } : { keyId: identity.id, keyRate: identity.rate };
  }

  private async take(route: FunctionRoute, buckets: PlannedBucket[]): Promise<Problem | undefined> {
    let decision: RateDecision;
    try {
      decision = await this.store.take(buckets);
    } catch (err) {
      this.fallbacks.inc();
      const now = this.clock.now();
      if (now - this.warnedAt >= WARN_EVERY_MS) {
        this.warnedAt = now;
        this.log.warn(
          'rate limits cannot reach the shared counters; each gateway enforces them on its own until they are back',
          { err },
        );
      }
      decision = await this.local.take(buckets);
    }
    if (decision.allowed) return undefined;
    const bucket = buckets[decision.bucket] as PlannedBucket;
    this.limited.inc({ function: route.name, namespace: route.namespace, scope: bucket.scope });
    return problems.rateLimited(route, bucket, retryAfterSeconds(decision.retryAfterMs));
  }
}
