/**
 * @weelo/cache: one Cache interface, on Redis when REDIS_URL is set and in process otherwise,
 * with the same semantics either way (see types.ts and the contract tests).
 */
import { MemoryCache, sharedMemoryStore } from "./memory-cache.js";
import { RedisCache } from "./redis-cache.js";
import type { Cache, CacheOptions } from "./types.js";

export type { Cache, CacheOptions, IncrOptions, SetOptions } from "./types.js";
export { MemoryStore, sharedMemoryStore } from "./memory-cache.js";
export { keyFamily } from "./base-cache.js";

/** Creates the cache for this process: Redis when config.REDIS_URL is set, else the in-process store. */
export function createCache(options: CacheOptions): Cache {
  const keyPrefix = options.keyPrefix ?? "";
  if (options.config.REDIS_URL) {
    return new RedisCache({
      url: options.config.REDIS_URL,
      keyPrefix,
      logger: options.logger,
      metrics: options.metrics,
      commandTimeoutMs: options.commandTimeoutMs ?? 2000,
    });
  }
  return new MemoryCache(options.memoryStore ?? sharedMemoryStore(), {
    keyPrefix,
    logger: options.logger.child({ component: "cache" }),
    metrics: options.metrics,
  });
}
