/**
 * How the Redis cache behaves when Redis is not there: calls fail fast (readiness can say so),
 * the outage is logged once rather than once per reconnect attempt, and the cache recovers by
 * itself when Redis comes back. Uses a refused port and a redis-server of its own (on a free
 * port), never the shared server, so it can stop and restart it.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { describe, it } from "node:test";
import { capturingLogger, elapsed, restartablePort, retryUntilResolved, sleep } from "@weelo/testing";
import { createCache } from "./index.js";

const redisServerMissing = spawnSync("redis-server", ["--version"]).status !== 0 ? "redis-server not installed" : false;

function startRedis(port: number): ChildProcess {
  return spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
  });
}

async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

describe("redis cache when Redis is unavailable", () => {
  it("fails fast and logs the outage once", async () => {
    const { logger, lines } = capturingLogger("cache-test");
    // Port 1 on loopback refuses connections immediately.
    const cache = createCache({ config: { REDIS_URL: "redis://127.0.0.1:1" }, logger });
    try {
      assert.equal(cache.kind, "redis");
      const first = await elapsed(() => cache.ping());
      assert.ok(first.error, "ping must reject while Redis is down");
      assert.ok(first.ms < 2500, `first ping took ${first.ms} ms`);
      await sleep(700); // several reconnect attempts happen meanwhile
      for (const call of [
        () => cache.get("a:1"),
        () => cache.set("a:1", "x"),
        () => cache.incr("a:2", { ttlMs: 100 }),
      ]) {
        const result = await elapsed(call);
        assert.ok(result.error, "calls must reject while Redis is down");
        assert.ok(result.ms < 100, `a call took ${result.ms} ms`);
      }
      assert.equal(lines.filter((l) => l.msg.includes("redis unavailable")).length, 1, JSON.stringify(lines));
    } finally {
      const closing = await elapsed(() => cache.close());
      assert.ok(closing.ms < 500, `close took ${closing.ms} ms`);
    }
  });

  it("recovers by itself when Redis restarts", { skip: redisServerMissing, timeout: 20_000 }, async () => {
    const port = await restartablePort();
    let server = startRedis(port);
    const { logger, lines } = capturingLogger("cache-test");
    const cache = createCache({ config: { REDIS_URL: `redis://127.0.0.1:${port}` }, logger, keyPrefix: "restart:" });
    try {
      await retryUntilResolved(() => cache.ping());
      await cache.set("k:1", "before");
      await stopRedis(server);
      await retryUntilResolved(async () => assert.ok((await elapsed(() => cache.get("k:1"))).error, "still answering"));
      server = startRedis(port);
      await retryUntilResolved(() => cache.ping());
      await cache.set("k:1", "after");
      assert.equal(await cache.get("k:1"), "after");
      const messages = lines.map((l) => l.msg);
      assert.equal(messages.filter((m) => m.includes("connection lost")).length, 1, JSON.stringify(messages));
      assert.equal(messages.filter((m) => m.includes("restored")).length, 1, JSON.stringify(messages));
    } finally {
      await cache.close();
      await stopRedis(server);
    }
  });
});
