/**
 * What both implementations share: key prefixing, TTL validation, hit/miss counting and the
 * JSON conveniences. Each backend only supplies the raw operations on full (prefixed) keys.
 */
import type { Redis } from "ioredis";
import { UnavailableError } from "@weelo/errors";
import type { Logger } from "@weelo/log";
import type { Metrics } from "@weelo/metrics";
import type { Cache, IncrOptions, SetOptions } from "./types.js";

/**
 * The metric label for a key: its first ':'-separated segment ("otp:+91…" → "otp"). Keys
 * without a ':' or with an odd first segment count as "other", so ids never become labels.
 */
export function keyFamily(key: string): string {
  const colon = key.indexOf(":");
  if (colon <= 0) return "other";
  const family = key.slice(0, colon);
  return /^[A-Za-z][A-Za-z0-9_-]{0,39}$/.test(family) ? family : "other";
}

/** TTLs are whole positive milliseconds (Redis PX refuses 0, negatives and fractions). */
export function checkTtl(ttlMs: number | undefined): number | undefined {
  if (ttlMs === undefined) return undefined;
  if (!Number.isFinite(ttlMs) || ttlMs <= 0)
    throw new RangeError(`ttlMs must be a positive number of milliseconds, got ${ttlMs}`);
  return Math.ceil(ttlMs);
}

export abstract class BaseCache implements Cache {
  abstract readonly kind: "redis" | "memory";

  constructor(
    protected readonly prefix: string,
    protected readonly logger: Logger,
    private readonly metrics: Metrics | undefined,
  ) {}

  protected abstract rawGet(key: string): Promise<string | undefined>;
  protected abstract rawGetMany(keys: string[]): Promise<(string | undefined)[]>;
  protected abstract rawSet(key: string, value: string, ttlMs: number | undefined): Promise<void>;
  protected abstract rawSetIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  protected abstract rawDel(keys: string[]): Promise<number>;
  protected abstract rawIncr(key: string, ttlMs: number | undefined): Promise<number>;
  protected abstract rawTtl(key: string): Promise<number | undefined>;
  abstract ping(): Promise<void>;
  abstract close(): Promise<void>;
  abstract redisClient(): Redis | undefined;

  async get(key: string): Promise<string | undefined> {
    const value = await unavailableOnFailure(this.rawGet(this.prefix + key));
    this.metrics?.cacheLookups.inc({ family: keyFamily(key), result: value === undefined ? "miss" : "hit" });
    return value;
  }

  async getMany(keys: readonly string[]): Promise<(string | undefined)[]> {
    if (keys.length === 0) return [];
    const values = await unavailableOnFailure(this.rawGetMany(keys.map((key) => this.prefix + key)));
    for (const [i, key] of keys.entries()) {
      this.metrics?.cacheLookups.inc({ family: keyFamily(key), result: values[i] === undefined ? "miss" : "hit" });
    }
    return values;
  }

  async set(key: string, value: string, options: SetOptions = {}): Promise<void> {
    return unavailableOnFailure(this.rawSet(this.prefix + key, value, checkTtl(options.ttlMs)));
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    const ttl = checkTtl(ttlMs);
    if (ttl === undefined) throw new RangeError("setIfAbsent needs a ttlMs");
    return unavailableOnFailure(this.rawSetIfAbsent(this.prefix + key, value, ttl));
  }

  async del(...keys: string[]): Promise<number> {
    if (keys.length === 0) return 0;
    return unavailableOnFailure(this.rawDel(keys.map((key) => this.prefix + key)));
  }

  async incr(key: string, options: IncrOptions = {}): Promise<number> {
    return unavailableOnFailure(this.rawIncr(this.prefix + key, checkTtl(options.ttlMs)));
  }

  async ttlMs(key: string): Promise<number | undefined> {
    return unavailableOnFailure(this.rawTtl(this.prefix + key));
  }

  async getJson<T>(key: string): Promise<T | undefined> {
    const text = await this.get(key);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as T;
    } catch {
      // A corrupt entry must not break the caller: it is recomputed like a miss.
      this.logger.warn({ family: keyFamily(key) }, "cache entry is not valid JSON; treating it as a miss");
      return undefined;
    }
  }

  async setJson(key: string, value: unknown, options?: SetOptions): Promise<void> {
    return this.set(key, JSON.stringify(value), options);
  }
}

/**
 * A cache server that is down or slow is a dependency outage, not a bug: callers (and clients)
 * see UNAVAILABLE, which is retryable and maps to 503; the cause stays for the log.
 */
function unavailableOnFailure<T>(operation: Promise<T>): Promise<T> {
  return operation.catch((error: unknown) => {
    // The server answered with an error (wrong type, bad argument): a bug to surface as is.
    if (error instanceof Error && (error.name === "ReplyError" || error.message.startsWith("ERR "))) throw error;
    throw new UnavailableError("the cache is unavailable; try again shortly", {
      reason: "CACHE_UNAVAILABLE",
      cause: error,
    });
  });
}
