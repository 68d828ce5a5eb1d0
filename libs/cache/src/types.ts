/**
 * The cache contract shared by the Redis and the in-process implementations. Both keep the
 * same semantics (string values, TTLs in milliseconds, keys under the cache's prefix), and the
 * contract tests in cache.test.ts run against both.
 */
import type { Redis } from "ioredis";
import type { BaseConfig } from "@weelo/config";
import type { Logger } from "@weelo/log";
import type { Metrics } from "@weelo/metrics";
import type { MemoryStore } from "./memory-cache.js";

export interface SetOptions {
  /** Time to live in milliseconds; unset means the key never expires (and any old TTL is cleared, as SET does). */
  ttlMs?: number;
}

export interface IncrOptions {
  /** TTL given to the counter when it is created; later increments keep the original expiry. */
  ttlMs?: number;
}

export interface Cache {
  /** Which backend answers: Redis (REDIS_URL set) or the in-process store. */
  readonly kind: "redis" | "memory";
  /** The value, or undefined when the key is missing or expired. Counted as a hit or a miss. */
  get(key: string): Promise<string | undefined>;
  /** The values of several keys in one round trip (MGET), in the keys' order; each counted as a hit or a miss. */
  getMany(keys: readonly string[]): Promise<(string | undefined)[]>;
  /** Sets the value, replacing any previous value and TTL. */
  set(key: string, value: string, options?: SetOptions): Promise<void>;
  /** Sets the value only if the key does not exist (SET NX PX); true when this call set it. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Deletes keys; resolves to how many existed. */
  del(...keys: string[]): Promise<number>;
  /**
   * Increments an integer counter (a missing key counts as 0) and resolves to the new value.
   * The TTL is set atomically with the increment when the key is new (or has somehow lost its
   * TTL), so a fixed-window counter expires at the end of its window and never lives forever.
   */
  incr(key: string, options?: IncrOptions): Promise<number>;
  /** Remaining time to live in ms; undefined when the key is missing or has no expiry. */
  ttlMs(key: string): Promise<number | undefined>;
  /** get + JSON.parse; an unparseable value is logged and treated as a miss. */
  getJson<T>(key: string): Promise<T | undefined>;
  /** JSON.stringify + set. */
  setJson(key: string, value: unknown, options?: SetOptions): Promise<void>;
  /** Resolves when the backend answers, rejects (quickly) when it does not: for readiness checks. */
  ping(): Promise<void>;
  /** Closes the connection (Redis) or detaches from the store (memory). Later calls reject. */
  close(): Promise<void>;
  /**
   * The raw ioredis client for libraries that need one (rate-limiter-flexible); undefined for
   * the in-process store. It does NOT apply this cache's key prefix.
   */
  redisClient(): Redis | undefined;
}

export interface CacheOptions {
  config: Pick<BaseConfig, "REDIS_URL">;
  /** Prepended to every key (e.g. "booking:"), so callers sharing one Redis stay apart. */
  keyPrefix?: string;
  logger: Logger;
  metrics?: Metrics;
  /** The in-process store to use without REDIS_URL; defaults to one store shared by the process. */
  memoryStore?: MemoryStore;
  /** Redis only: how long one command may take before it fails (default 2000 ms). */
  commandTimeoutMs?: number;
}
