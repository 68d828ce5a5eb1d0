/**
 * Fixed-window rate limits from rate-limiter-flexible: in Redis when the process has one, so
 * every replica counts against the same budget; in memory in the embedded default.
 */
import rlf from "rate-limiter-flexible";
import type { RateLimiterAbstract, RateLimiterRes } from "rate-limiter-flexible";
import { ResourceExhaustedError } from "@weelo/errors";

export interface RateLimitSettings {
  /** Name of the limit, part of every key and of the refusal reason, e.g. "otp-phone". */
  name: string;
  /** Allowed events per window. */
  points: number;
  /** Window length in seconds. */
  durationSeconds: number;
  /** Words for the refusal message, e.g. "OTP requests for this phone". */
  what: string;
  /** Prepended to every key (the process's CACHE_KEY_PREFIX), as the cache does for its own keys. */
  keyPrefix?: string;
}

export interface RateLimiter {
  /** Counts one event for the key, or throws RESOURCE_EXHAUSTED with the seconds until the window frees up. */
  consume(key: string): Promise<void>;
  /** Gives a counted event back (e.g. the work failed for a reason that is not the caller's). */
  refund(key: string): Promise<void>;
}

/** The raw ioredis client (from @weelo/cache's redisClient()) or undefined for in-memory. */
export function createRateLimiter(settings: RateLimitSettings, redisClient?: unknown): RateLimiter {
  const options = { keyPrefix: `${settings.keyPrefix ?? ""}rl:${settings.name}`, points: settings.points, duration: settings.durationSeconds };
  const limiter: RateLimiterAbstract = redisClient
    ? new rlf.RateLimiterRedis({ ...options, storeClient: redisClient, useRedisPackage: false })
    : new rlf.RateLimiterMemory(options);
  return {
    async consume(key) {
      try {
        await limiter.consume(key, 1);
      } catch (rejection) {
        if (rejection instanceof Error) throw rejection; // the store failed: not a limit
        const retryAfterSeconds = Math.max(1, Math.ceil((rejection as RateLimiterRes).msBeforeNext / 1000));
        throw new ResourceExhaustedError(`too many ${settings.what}; try again in ${retryAfterSeconds} s`, {
          reason: `RATE_LIMITED`,
          retryAfterSeconds,
        });
      }
    },
    async refund(key) {
      await limiter.reward(key, 1);
    },
  };
}
