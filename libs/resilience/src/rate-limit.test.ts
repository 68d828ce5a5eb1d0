/**
 * Both faces of the fixed-window limiter, in memory and (when REDIS_URL is set) in Redis:
 * createRateLimiter throws RESOURCE_EXHAUSTED over the budget and gives refunds back;
 * createRequestLimiter reports every decision with its window; a request limiter keeps
 * deciding from memory when Redis is down, a rate limiter does not.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, it } from "node:test";
import { Redis } from "ioredis";
import { DomainError, GrpcCode, UnavailableError } from "@weelo/errors";
import { createRateLimiter, createRequestLimiter } from "./index.js";

const REDIS_URL = process.env.REDIS_URL;
const backends: { name: string; url: string | undefined; skip: string | false }[] = [
  { name: "memory", url: undefined, skip: false },
  { name: "redis", url: REDIS_URL, skip: REDIS_URL ? false : "REDIS_URL not set" },
];

for (const backend of backends) {
  describe(`rate limits (${backend.name})`, { skip: backend.skip }, () => {
    const keyPrefix = `t_${randomBytes(6).toString("hex")}:`;
    const redis = backend.url ? new Redis(backend.url) : undefined;
    after(async () => {
      if (!redis) return;
      const keys = await redis.keys(`${keyPrefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    });

    it("a request limiter counts down the budget, then refuses with the time to the window's end", async () => {
      const limiter = createRequestLimiter({ name: "req", points: 2, durationSeconds: 60, keyPrefix }, redis);
      assert.deepEqual(await limiter.take("k"), {
        allowed: true,
        limit: 2,
        remaining: 1,
        resetSeconds: 60,
        windowSeconds: 60,
      });
      assert.deepEqual(await limiter.take("k"), {
        allowed: true,
        limit: 2,
        remaining: 0,
        resetSeconds: 60,
        windowSeconds: 60,
      });
      const refused = await limiter.take("k");
      assert.equal(refused.allowed, false);
      assert.equal(refused.remaining, 0);
      assert.equal(refused.windowSeconds, 60);
      assert.ok(refused.resetSeconds >= 59 && refused.resetSeconds <= 60, String(refused.resetSeconds));
      // Another key has its own budget.
      assert.equal((await limiter.take("other")).allowed, true);
    });

    it("a rate limiter throws RESOURCE_EXHAUSTED over the budget, and a refund gives one back", async () => {
      const limiter = createRateLimiter(
        { name: "rate", points: 1, durationSeconds: 30, what: "test events", keyPrefix },
        redis,
      );
      await limiter.consume("k");
      const error = await limiter.consume("k").then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      assert.ok(error instanceof DomainError);
      assert.equal(error.code, GrpcCode.RESOURCE_EXHAUSTED);
      assert.equal(error.reason, "RATE_LIMITED");
      assert.match(error.message, /^too many test events; try again in (29|30) s$/);
      assert.ok(error.retryAfterSeconds === 29 || error.retryAfterSeconds === 30);
      await limiter.refund("k");
      await limiter.refund("k");
      await limiter.consume("k");
    });
  });
}

describe("rate limits when Redis is down", () => {
  // Nothing listens on port 1: every command fails at once.
  const down = new Redis("redis://127.0.0.1:1", {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  after(() => down.disconnect());

  it("a request limiter decides from memory with the same budget", async () => {
    const limiter = createRequestLimiter({ name: "outage", points: 1, durationSeconds: 60 }, down);
    assert.equal((await limiter.take("k")).allowed, true);
    assert.equal((await limiter.take("k")).allowed, false);
  });

  it("a rate limiter fails UNAVAILABLE (CACHE_UNAVAILABLE, the store's error as cause) instead of counting apart on each replica", async () => {
    const limiter = createRateLimiter({ name: "outage", points: 1, durationSeconds: 60, what: "test events" }, down);
    await assert.rejects(limiter.consume("k"), (error: unknown) => {
      assert.ok(error instanceof UnavailableError, `expected UnavailableError, got ${String(error)}`);
      assert.equal(error.reason, "CACHE_UNAVAILABLE");
      assert.ok(error.cause instanceof Error && !(error.cause instanceof DomainError));
      return true;
    });
  });
});
