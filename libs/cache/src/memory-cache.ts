/**
 * The in-process cache used when REDIS_URL is unset (embedded mode and tests). It mirrors the
 * Redis semantics the rest of the code relies on: SET replaces the TTL, SET NX, INCR on an
 * integer string, PTTL. Expired keys disappear on read, and a periodic sweep removes the ones
 * nobody reads again so the map does not grow forever.
 */
import type { Redis } from "ioredis";
import type { Logger } from "@weelo/log";
import type { Metrics } from "@weelo/metrics";
import { BaseCache } from "./base-cache.js";

interface Entry {
  value: string;
  /** Epoch ms after which the entry is gone; undefined never expires. */
  expiresAt: number | undefined;
}

/**
 * The key space, playing the part of one Redis server: several caches (one per service in
 * the all-in-one process) share it, each under its own prefix, exactly as they would share Redis.
 */
export class MemoryStore {
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: { sweepIntervalMs?: number } = {}) {
    this.sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 30_000);
    // The sweep is housekeeping: it must never keep the process alive on its own.
    this.sweeper.unref();
  }

  /** Number of entries currently held (expired ones included until swept or read). */
  get size(): number {
    return this.entries.size;
  }

  /** The live entry, deleting it first if it has expired (lazy expiry, like Redis). */
  private live(key: string, now = Date.now()): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  get(key: string): string | undefined {
    return this.live(key)?.value;
  }

  set(key: string, value: string, ttlMs: number | undefined): void {
    this.entries.set(key, { value, expiresAt: ttlMs === undefined ? undefined : Date.now() + ttlMs });
  }

  setIfAbsent(key: string, value: string, ttlMs: number): boolean {
    if (this.live(key)) return false;
    this.set(key, value, ttlMs);
    return true;
  }

  del(keys: string[]): number {
    let removed = 0;
    for (const key of keys) {
      if (this.live(key)) {
        this.entries.delete(key);
        removed++;
      }
    }
    return removed;
  }

  incr(key: string, ttlMs: number | undefined): number {
    const now = Date.now();
    const entry = this.live(key, now);
    if (entry === undefined) {
      this.entries.set(key, { value: "1", expiresAt: ttlMs === undefined ? undefined : now + ttlMs });
      return 1;
    }
    // Same rule and message as Redis: only a base-10 integer string can be incremented.
    const current = /^-?\d+$/.test(entry.value) ? Number(entry.value) : Number.NaN;
    if (!Number.isSafeInteger(current) || !Number.isSafeInteger(current + 1)) {
      throw new Error("ERR value is not an integer or out of range");
    }
    entry.value = String(current + 1);
    // Same rule as the Redis script: a counter without a TTL gets one, an existing TTL is kept.
    if (entry.expiresAt === undefined && ttlMs !== undefined) entry.expiresAt = now + ttlMs;
    return current + 1;
  }

  ttlMs(key: string): number | undefined {
    const now = Date.now();
    const entry = this.live(key, now);
    if (entry?.expiresAt === undefined) return undefined;
    return entry.expiresAt - now;
  }

  /** Drops every expired entry; runs on the timer, callable by tests. */
  sweep(): number {
    const now = Date.now();
    let removed = 0;
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) {
        this.entries.delete(key);
        removed++;
      }
    }
    return removed;
  }

  /** Stops the sweep timer and forgets everything (for stores a test created itself). */
  dispose(): void {
    clearInterval(this.sweeper);
    this.entries.clear();
  }
}

let processStore: MemoryStore | undefined;

/** The store every memory cache of this process shares unless it is given its own. */
export function sharedMemoryStore(): MemoryStore {
  processStore ??= new MemoryStore();
  return processStore;
}

export class MemoryCache extends BaseCache {
  readonly kind = "memory" as const;
  private closed = false;

  constructor(
    private readonly store: MemoryStore,
    options: { keyPrefix: string; logger: Logger; metrics: Metrics | undefined },
  ) {
    super(options.keyPrefix, options.logger, options.metrics);
  }

  /** Calls after close() fail as they do on a closed Redis connection. */
  private open(): MemoryStore {
    if (this.closed) throw new Error("cache is closed");
    return this.store;
  }

  protected async rawGet(key: string): Promise<string | undefined> {
    return this.open().get(key);
  }
  protected async rawGetMany(keys: string[]): Promise<(string | undefined)[]> {
    const store = this.open();
    return keys.map((key) => store.get(key));
  }
  protected async rawSet(key: string, value: string, ttlMs: number | undefined): Promise<void> {
    this.open().set(key, value, ttlMs);
  }
  protected async rawSetIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return this.open().setIfAbsent(key, value, ttlMs);
  }
  protected async rawDel(keys: string[]): Promise<number> {
    return this.open().del(keys);
  }
  protected async rawIncr(key: string, ttlMs: number | undefined): Promise<number> {
    return this.open().incr(key, ttlMs);
  }
  protected async rawTtl(key: string): Promise<number | undefined> {
    return this.open().ttlMs(key);
  }

  async ping(): Promise<void> {
    this.open();
  }

  async close(): Promise<void> {
    // The store is shared with other caches of the process, so closing only detaches this one.
    this.closed = true;
  }

  redisClient(): Redis | undefined {
    return undefined;
  }
}
