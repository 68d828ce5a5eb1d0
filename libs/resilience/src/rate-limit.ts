/**
 * Fixed-window rate limits from rate-limiter-flexible: in Redis when the process has one, so
 * every replica counts against the same budget; in memory in the embedded default.
 *
 * One core counts and decides; two faces use it:
 * - createRateLimiter (a service's own limits, e.g. OTPs per phone) throws RESOURCE_EXHAUSTED
 *   when a key is over its budget;
 * - createRequestLimiter (a front door, the gateway) returns every decision, with what is left
 *   of the budget and when the window resets, for the RateLimit headers. A Redis outage must
 *   not take the API down with it: its decisions fall back to an in-memory limiter of the same
 *   size until Redis answers again, and a key over its budget is refused from memory without
 *   another Redis round trip.
 */
import rlf from "rate-limiter-flexible";
import type { RateLimiterAbstract, RateLimiterRes } from "rate-limiter-flexible";
import { ResourceExhaustedError, UnavailableError } from "@weelo/errors";

export interface RequestLimitSettings {
  /** Name of the limit, part of every key, e.g. "otp-phone" or "gw-booking-user". */
  name: string;
  /** Allowed events per window. */
  points: number;
  /** Window length in seconds. */
  durationSeconds: number;
  /** Prepended to every key (the process's CACHE_KEY_PREFIX), as the cache does for its own keys. */
  keyPrefix?: string;
}

export interface RateLimitSettings extends RequestLimitSettings {
  /** Words for the refusal message, e.g. "OTP requests for this phone". */
  what: string;
}

export interface RequestLimitDecision {
  allowed: boolean;
  /** The budget of the window. */
  limit: number;
  /** Requests left in the window after this one (0 when refused). */
  remaining: number;
  /** Seconds until the window frees up (at least 1). */
  resetSeconds: number;
  /** Length of the limit's window in seconds (for RateLimit-Policy). */
  windowSeconds: number;
}

export interface RequestLimiter {
  readonly settings: RequestLimitSettings;
  /** Counts one request for the key and says whether it is within the budget. */
  take(key: string): Promise<RequestLimitDecision>;
}

export interface RateLimiter {
  /** Counts one event for the key, or throws RESOURCE_EXHAUSTED with the seconds until the window frees up. */
  consume(key: string): Promise<void>;
  /** Gives a counted event back (e.g. the work failed for a reason that is not the caller's). */
  refund(key: string): Promise<void>;
}

/** The raw ioredis client (from @weelo/cache's redisClient()) or undefined for in-memory. */
export function createRateLimiter(settings: RateLimitSettings, redisClient?: unknown): RateLimiter {
  // No fallback to memory: a per-phone limit counted apart on each replica would not hold.
  const window = fixedWindow(settings, redisClient, { survivesRedisOutage: false });
  return {
    async consume(key) {
      const decision = await window.take(key).catch((error: unknown) => {
        // The store is down or slow: a dependency outage the caller may retry (503), not a bug (500).
        throw new UnavailableError(`the ${settings.what} limit cannot be checked now; try again shortly`, {
          reason: "CACHE_UNAVAILABLE",
          cause: error,
        });
      });
      if (decision.allowed) return;
      throw new ResourceExhaustedError(`too many ${settings.what}; try again in ${decision.resetSeconds} s`, {
        reason: `RATE_LIMITED`,
        retryAfterSeconds: decision.resetSeconds,
      });
    },
    refund: (key) => window.refund(key),
  };
}

/** The raw ioredis client (from @weelo/cache's redisClient()) or undefined for in-memory. */
export function createRequestLimiter(settings: RequestLimitSettings, redisClient?: unknown): RequestLimiter {
  const window = fixedWindow(settings, redisClient, { survivesRedisOutage: true });
  return { settings, take: (key) => window.take(key) };
}

/** The core both limiters share: one fixed window per key, in Redis or in memory. */
function fixedWindow(
  settings: RequestLimitSettings,
  redisClient: unknown,
  { survivesRedisOutage }: { survivesRedisOutage: boolean },
) {
  const options = {
    keyPrefix: `${settings.keyPrefix ?? ""}rl:${settings.name}`,
    points: settings.points,
    duration: settings.durationSeconds,
  };
  const limiter: RateLimiterAbstract = !redisClient
    ? new rlf.RateLimiterMemory(options)
    : new rlf.RateLimiterRedis({
        ...options,
        storeClient: redisClient,
        useRedisPackage: false,
        ...(survivesRedisOutage
          ? {
              insuranceLimiter: new rlf.RateLimiterMemory(options),
              // Over-budget keys are refused from memory until their window ends: a flood costs no Redis calls.
              inMemoryBlockOnConsumed: settings.points + 1,
              inMemoryBlockDuration: settings.durationSeconds,
            }
          : {}),
      });
  const decision = (res: RateLimiterRes, allowed: boolean): RequestLimitDecision => ({
    allowed,
    limit: settings.points,
    remaining: allowed ? Math.max(0, res.remainingPoints) : 0,
    resetSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)),
    windowSeconds: settings.durationSeconds,
  });
  return {
    async take(key: string): Promise<RequestLimitDecision> {
      try {
        return decision(await limiter.consume(key, 1), true);
      } catch (rejection) {
        if (rejection instanceof Error) throw rejection; // the store failed (and so did any insurance): not a limit
        return decision(rejection as RateLimiterRes, false);
      }
    },
    async refund(key: string): Promise<void> {
      await limiter.reward(key, 1);
    },
  };
}
