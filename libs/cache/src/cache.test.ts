/**
 * The cache contract: the same tests run against the in-process store and, when REDIS_URL is
 * set, against real Redis. Each test works under its own random key prefix and removes its keys.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { createLogger } from "@weelo/log";
import { Metrics } from "@weelo/metrics";
import { createCache, keyFamily, MemoryStore, type Cache } from "./index.js";

const logger = createLogger({ service: "cache-test", level: "silent" });
const REDIS_URL = process.env.REDIS_URL;

const backends: { name: string; url: string | undefined; skip: string | false }[] = [
  { name: "memory", url: undefined, skip: false },
  { name: "redis", url: REDIS_URL, skip: REDIS_URL ? false : "REDIS_URL not set" },
];

for (const backend of backends) {
  describe(`cache contract (${backend.name})`, { skip: backend.skip }, () => {
    const opened: { cache: Cache; prefix: string }[] = [];
    /** A cache under a fresh random prefix; its keys are deleted and it is closed after the suite. */
    function newCache(metrics?: Metrics, prefix = `t_${randomBytes(6).toString("hex")}:`): Cache {
      const cache = createCache({ config: { REDIS_URL: backend.url }, keyPrefix: prefix, logger, metrics });
      opened.push({ cache, prefix });
      return cache;
    }
    after(async () => {
      for (const { cache } of opened) await cache.close();
      if (!backend.url) return;
      // Every prefix is random and belongs to this suite: remove what the tests left behind.
      const admin = new Redis(backend.url);
      for (const { prefix } of opened) {
        const keys = await admin.keys(`${prefix}*`);
        if (keys.length > 0) await admin.del(...keys);
      }
      await admin.quit();
    });

    it("reports its kind and answers ping", async () => {
      const cache = newCache();
      assert.equal(cache.kind, backend.name);
      await cache.ping();
      assert.equal(cache.redisClient() === undefined, backend.name === "memory");
    });

    it("gets, sets, overwrites and deletes", async () => {
      const cache = newCache();
      assert.equal(await cache.get("a:1"), undefined);
      await cache.set("a:1", "one");
      assert.equal(await cache.get("a:1"), "one");
      await cache.set("a:1", "uno");
      assert.equal(await cache.get("a:1"), "uno");
      await cache.set("a:2", "two");
      assert.equal(await cache.del("a:1", "a:2", "a:missing"), 2);
      assert.equal(await cache.del(), 0);
      assert.equal(await cache.get("a:1"), undefined);
    });

    it("gets many keys in one call, in the keys' order, missing and expired ones undefined", async () => {
      const cache = newCache();
      await cache.set("m:1", "one");
      await cache.set("m:3", "three");
      await cache.set("m:gone", "x", { ttlMs: 20 });
      await sleep(60);
      assert.deepEqual(await cache.getMany(["m:3", "m:2", "m:1", "m:gone"]), ["three", undefined, "one", undefined]);
      assert.deepEqual(await cache.getMany([]), []);
    });

    it("expires keys after their TTL and reports the remaining TTL", async () => {
      const cache = newCache();
      await cache.set("ttl:short", "x", { ttlMs: 80 });
      await cache.set("ttl:forever", "y");
      const left = await cache.ttlMs("ttl:short");
      assert.ok(left !== undefined && left > 0 && left <= 80, `ttl ${left}`);
      assert.equal(await cache.ttlMs("ttl:forever"), undefined);
      assert.equal(await cache.ttlMs("ttl:missing"), undefined);
      await sleep(120);
      assert.equal(await cache.get("ttl:short"), undefined);
      assert.equal(await cache.ttlMs("ttl:short"), undefined);
      assert.equal(await cache.get("ttl:forever"), "y");
    });

    it("set without a TTL clears an earlier TTL (as SET does)", async () => {
      const cache = newCache();
      await cache.set("k:1", "a", { ttlMs: 60_000 });
      await cache.set("k:1", "b");
      assert.equal(await cache.ttlMs("k:1"), undefined);
    });

    it("setIfAbsent: of 50 concurrent calls exactly one wins, and the key expires", async () => {
      const cache = newCache();
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => cache.setIfAbsent("lock:1", `owner-${i}`, 150)),
      );
      assert.equal(results.filter(Boolean).length, 1);
      const winner = results.indexOf(true);
      assert.equal(await cache.get("lock:1"), `owner-${winner}`);
      assert.equal(await cache.setIfAbsent("lock:1", "late", 150), false);
      await sleep(200);
      assert.equal(await cache.setIfAbsent("lock:1", "after-expiry", 150), true);
    });

    it("incr counts atomically and sets the TTL once, when the counter is created", async () => {
      const cache = newCache();
      const values = await Promise.all(Array.from({ length: 20 }, () => cache.incr("rl:1", { ttlMs: 300 })));
      assert.deepEqual(
        [...values].sort((a, b) => a - b),
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      const first = await cache.ttlMs("rl:1");
      assert.ok(first !== undefined && first <= 300, `ttl ${first}`);
      await sleep(100);
      assert.equal(await cache.incr("rl:1", { ttlMs: 300 }), 21);
      const second = await cache.ttlMs("rl:1");
      // A later increment must not push the window out.
      assert.ok(second !== undefined && second <= first - 50, `ttl ${second} after ${first}`);
      await sleep(second + 50);
      assert.equal(await cache.get("rl:1"), undefined);
      assert.equal(await cache.incr("rl:1", { ttlMs: 300 }), 1, "a new window starts at 1");
    });

    it("incr without a TTL keeps the counter; a counter that lost its TTL gets one", async () => {
      const cache = newCache();
      assert.equal(await cache.incr("n:1"), 1);
      assert.equal(await cache.incr("n:1"), 2);
      assert.equal(await cache.ttlMs("n:1"), undefined);
      assert.equal(await cache.incr("n:1", { ttlMs: 10_000 }), 3);
      assert.ok(((await cache.ttlMs("n:1")) ?? 0) > 9_000);
      await cache.set("n:2", "not a number");
      await assert.rejects(cache.incr("n:2"), /not an integer/);
    });

    it("keeps prefixes apart", async () => {
      const a = newCache();
      const b = newCache();
      await a.set("same:key", "from a");
      await b.set("same:key", "from b");
      assert.equal(await a.get("same:key"), "from a");
      assert.equal(await b.get("same:key"), "from b");
      assert.equal(await b.del("same:key"), 1);
      assert.equal(await a.get("same:key"), "from a");
      assert.equal(await a.incr("c:1"), 1);
      assert.equal(await b.incr("c:1"), 1);
    });

    it("stores JSON and treats a corrupt entry as a miss", async () => {
      const cache = newCache();
      await cache.setJson("quote:1", { fare: 125_000, items: ["a", "b"] }, { ttlMs: 10_000 });
      assert.deepEqual(await cache.getJson("quote:1"), { fare: 125_000, items: ["a", "b"] });
      assert.equal(await cache.getJson("quote:missing"), undefined);
      await cache.set("quote:2", "{not json");
      assert.equal(await cache.getJson("quote:2"), undefined);
    });

    it("counts hits and misses by key family, never by full key", async () => {
      const metrics = new Metrics({ defaultMetrics: false });
      const cache = newCache(metrics);
      await cache.set("otp:+919800000001", "1");
      await cache.get("otp:+919800000001");
      await cache.get("otp:+919800000002");
      await cache.get("no-family-key");
      const values = (await metrics.cacheLookups.get()).values;
      const count = (family: string, result: string) =>
        values.find((v) => v.labels.family === family && v.labels.result === result)?.value ?? 0;
      assert.equal(count("otp", "hit"), 1);
      assert.equal(count("otp", "miss"), 1);
      assert.equal(count("other", "miss"), 1);
      assert.ok(values.every((v) => !String(v.labels.family).includes("+91")));
    });

    it("rejects bad TTLs and calls after close", async () => {
      const cache = newCache();
      await assert.rejects(cache.set("x:1", "a", { ttlMs: 0 }), RangeError);
      await assert.rejects(cache.setIfAbsent("x:1", "a", -5), RangeError);
      const closed = newCache();
      await closed.close();
      await assert.rejects(closed.get("x:1"));
    });
  });
}

describe("cache helpers", () => {
  it("derives a bounded metric family from a key", () => {
    assert.equal(keyFamily("otp:+91:customer"), "otp");
    assert.equal(keyFamily("rl:login:1.2.3.4"), "rl");
    assert.equal(keyFamily("0198c7f2-uuid"), "other");
    assert.equal(keyFamily(":leading"), "other");
    assert.equal(keyFamily("+919800000000:x"), "other");
  });

  it("the memory store sweeps expired keys nobody reads", async () => {
    const store = new MemoryStore({ sweepIntervalMs: 20 });
    try {
      const cache = createCache({ config: { REDIS_URL: undefined }, logger, memoryStore: store });
      for (let i = 0; i < 100; i++) await cache.set(`s:${i}`, "v", { ttlMs: 10 });
      await cache.set("s:keep", "v");
      assert.equal(store.size, 101);
      await sleep(80);
      assert.equal(store.size, 1);
    } finally {
      store.dispose();
    }
  });

  it("caches without their own store share the process store, as services share one Redis", async () => {
    const a = createCache({ config: { REDIS_URL: undefined }, logger });
    const b = createCache({ config: { REDIS_URL: undefined }, logger });
    const key = `shared_${randomBytes(4).toString("hex")}:k`;
    await a.set(key, "v", { ttlMs: 1000 });
    assert.equal(await b.get(key), "v");
    await a.del(key);
  });
});
