/**
 * The cache on Redis through ioredis. Tuned to fail fast: while Redis is down every call
 * rejects at once (no unbounded offline queue), so readiness reports it and callers can fall
 * back, while the client keeps reconnecting in the background with a capped backoff. The
 * connection state is logged once per change, not once per failed attempt.
 */
import { Redis } from "ioredis";
import type { Logger } from "@weelo/log";
import type { Metrics } from "@weelo/metrics";
import { BaseCache } from "./base-cache.js";

/**
 * INCR, and PEXPIRE only when the key has no TTL yet (it was just created, or lost its TTL),
 * in one script so no other client can observe a counter without its expiry.
 */
const INCR_WITH_TTL = `
local n = redis.call('INCR', KEYS[1])
local ttl = tonumber(ARGV[1])
if ttl > 0 and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return n
`;

/** The client with the script above registered (ioredis adds it as a method, EVALSHA with fallback). */
type ScriptedRedis = Redis & { weeloIncrTtl(key: string, ttlMs: number): Promise<number> };

export interface RedisCacheOptions {
  url: string;
  keyPrefix: string;
  logger: Logger;
  metrics: Metrics | undefined;
  commandTimeoutMs: number;
}

/** Delay before reconnect attempt n: exponential from 100 ms, capped at 2 s, with jitter. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(100 * 2 ** Math.min(attempt - 1, 5), 2000) + Math.floor(Math.random() * 100);
}

export class RedisCache extends BaseCache {
  readonly kind = "redis" as const;
  private readonly redis: ScriptedRedis;
  private state: "connecting" | "up" | "down" = "connecting";
  private connectedOnce = false;
  private closing = false;
  /** Settles on the first connection or the first failure, whichever comes first. */
  private readonly firstAttempt: Promise<void>;

  constructor(private readonly options: RedisCacheOptions) {
    super(options.keyPrefix, options.logger.child({ component: "cache" }), options.metrics);
    const redis = new Redis(options.url, {
      lazyConnect: false,
      // Calls fail instead of queueing while disconnected (readiness must see the outage).
      enableOfflineQueue: false,
      // A command caught by a dropped connection is retried at most twice, then fails.
      maxRetriesPerRequest: 2,
      commandTimeout: options.commandTimeoutMs,
      connectTimeout: 5000,
      // Commands issued in the same tick go out in one write (the revocation check and the cached
      // read of one call, and those of concurrent calls): fewer syscalls per command under load.
      enableAutoPipelining: true,
      // Returning a number means: keep reconnecting forever.
      retryStrategy: reconnectDelayMs,
    });
    redis.defineCommand("weeloIncrTtl", { numberOfKeys: 1, lua: INCR_WITH_TTL });
    this.redis = redis as ScriptedRedis;

    let settleFirst: () => void = () => {};
    this.firstAttempt = new Promise<void>((resolve) => (settleFirst = resolve));
    const target = safeUrl(options.url);
    redis.on("ready", () => {
      settleFirst();
      if (this.state !== "up")
        this.logger.info({ redis: target }, this.connectedOnce ? "redis connection restored" : "redis connected");
      this.state = "up";
      this.connectedOnce = true;
    });
    // ioredis emits "error" for every failed reconnect attempt: log only the transition to down.
    redis.on("error", (err: Error) => {
      settleFirst();
      if (this.state !== "down" && !this.closing)
        this.logger.warn({ redis: target, err: err.message }, "redis unavailable; reconnecting in the background");
      this.state = "down";
    });
    redis.on("close", () => {
      if (this.state === "up" && !this.closing)
        this.logger.warn({ redis: target }, "redis connection lost; reconnecting in the background");
      if (this.state === "up") this.state = "down";
    });
  }

  /**
   * The client, once the first connection attempt has settled: a call made right after start
   * waits for the connection (at most one command timeout) instead of failing; after that,
   * calls go straight through and fail fast while Redis is down.
   */
  private async client(): Promise<ScriptedRedis> {
    if (this.closing) throw new Error("cache is closed");
    if (this.state === "connecting") {
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.commandTimeoutMs)));
      await Promise.race([this.firstAttempt, bound]);
      clearTimeout(timer);
    }
    return this.redis;
  }

  protected async rawGet(key: string): Promise<string | undefined> {
    return (await (await this.client()).get(key)) ?? undefined;
  }

  protected async rawGetMany(keys: string[]): Promise<(string | undefined)[]> {
    return (await (await this.client()).mget(keys)).map((value) => value ?? undefined);
  }

  protected async rawSet(key: string, value: string, ttlMs: number | undefined): Promise<void> {
    const redis = await this.client();
    if (ttlMs === undefined) await redis.set(key, value);
    else await redis.set(key, value, "PX", ttlMs);
  }

  protected async rawSetIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await (await this.client()).set(key, value, "PX", ttlMs, "NX")) === "OK";
  }

  protected async rawDel(keys: string[]): Promise<number> {
    return (await this.client()).del(...keys);
  }

  protected async rawIncr(key: string, ttlMs: number | undefined): Promise<number> {
    return (await this.client()).weeloIncrTtl(key, ttlMs ?? 0);
  }

  protected async rawTtl(key: string): Promise<number | undefined> {
    const ttl = await (await this.client()).pttl(key);
    // PTTL: -2 missing, -1 no expiry.
    return ttl < 0 ? undefined : ttl;
  }

  async ping(): Promise<void> {
    await (await this.client()).ping();
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.redis.status === "ready") {
      try {
        await this.redis.quit();
        return;
      } catch {
        // Fall through: the connection is going away anyway.
      }
    }
    // Not connected: stop the reconnect loop without waiting for Redis.
    this.redis.disconnect();
  }

  redisClient(): Redis {
    return this.redis;
  }
}

/** The URL without its password, for log lines. */
function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparseable REDIS_URL)";
  }
}
