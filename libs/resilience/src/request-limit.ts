/**
 * Request rate limits for a front door (the gateway): like createRateLimiter, but every
 * decision says how much of the budget is left and when the window resets, so the answer can
 * carry the RateLimit-Limit / RateLimit-Remaining / RateLimit-Reset headers on success and on
 * refusal. In Redis when the process has one (every replica counts against the same budget),
 * in memory otherwise. A Redis outage must not take the API down with it: decisions fall back
 * to an in-memory limiter of the same size until Redis answers again, and a key that is over
 * its budget is refused from memory without another Redis round trip.
 */
import rlf from "rate-limiter-flexible";
import type { RateLimiterAbstract, RateLimiterRes } from "rate-limiter-flexible";

export interface RequestLimitSettings {
  /** Name of the limit, part of every key, e.g. "gw-booking-user". */
  name: string;
  /** Allowed requests per window. */
  points: number;
  /** Window length in seconds. */
  durationSeconds: number;
  /** Prepended to every key (the process's CACHE_KEY_PREFIX). */
  keyPrefix?: string;
}

export interface RequestLimitDecision {
  allowed: boolean;
  /** The budget of the window. */
  limit: number;
  /** Requests left in the window after this one (0 when refused). */
  remaining: number;
  /** Seconds until the window frees up (at least 1). */
  resetSeconds: number;
}

export interface RequestLimiter {
  readonly settings: RequestLimitSettings;
  /** Counts one request for the key and says whether it is within the budget. */
  take(key: string): Promise<RequestLimitDecision>;
}

/** The raw ioredis client (from @weelo/cache's redisClient()) or undefined for in-memory. */
export function createRequestLimiter(settings: RequestLimitSettings, redisClient?: unknown): RequestLimiter {
  const options = { keyPrefix: `${settings.keyPrefix ?? ""}rl:${settings.name}`, points: settings.points, duration: settings.durationSeconds };
  const limiter: RateLimiterAbstract = redisClient
    ? new rlf.RateLimiterRedis({
        ...options,
        storeClient: redisClient,
        useRedisPackage: false,
        insuranceLimiter: new rlf.RateLimiterMemory(options),
        // Over-budget keys are refused from memory until their window ends: a flood costs no Redis calls.
        inMemoryBlockOnConsumed: settings.points + 1,
        inMemoryBlockDuration: settings.durationSeconds,
      })
    : new rlf.RateLimiterMemory(options);
  const decision = (res: RateLimiterRes, allowed: boolean): RequestLimitDecision => ({
    allowed,
    limit: settings.points,
    remaining: allowed ? Math.max(0, res.remainingPoints) : 0,
    resetSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)),
  });
  return {
    settings,
    async take(key) {
      try {
        return decision(await limiter.consume(key, 1), true);
      } catch (rejection) {
        if (rejection instanceof Error) throw rejection; // the store failed (and so did the insurance): not a limit
        return decision(rejection as RateLimiterRes, false);
      }
    },
  };
}
