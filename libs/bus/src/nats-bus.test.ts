/**
 * How the NATS bus behaves when NATS is not there: nothing throws at start, calls that need
 * the server fail within a bound, readiness reports the outage, it is logged once, and after
 * a broker restart subscriptions and consumers carry on by themselves. Uses a refused port and
 * a nats-server of its own (on a free port, with a temporary store), never the shared server.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { capturingLogger, elapsed, restartablePort, sleep, until } from "@weelo/testing";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { createBus } from "./index.js";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function capturingBusLogger() {
  const { logger, lines } = capturingLogger("bus-test");
  return { logger, messages: () => lines.map((l) => l.msg) };
}
const answers = async (fn: () => Promise<unknown>) => (await elapsed(fn)).error === undefined;

const natsServerMissing = spawnSync("nats-server", ["--version"]).status !== 0 ? "nats-server not installed" : false;

function startNats(port: number, storeDir: string): ChildProcess {
  return spawn("nats-server", ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir], { stdio: "ignore" });
}

async function stopNats(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

describe("nats bus when NATS is unavailable", () => {
  it("starts anyway, fails calls within a bound, and logs the outage once", async () => {
    const { logger, messages } = capturingBusLogger();
    const bus = createBus({
      config: { NATS_URL: "nats://127.0.0.1:1" },
      service: "bus-test",
      logger,
      connectWaitMs: 300,
    });
    try {
      assert.equal(bus.kind, "nats");
      const ping = await elapsed(() => bus.ping());
      assert.ok(ping.error, "ping must reject while NATS is down");
      assert.ok(ping.ms < 2500, `ping took ${ping.ms} ms`);
      // Fire-and-forget calls do not throw; they wait for the connection (bounded).
      bus.publish("t.down", enc("x"));
      const sub = bus.subscribe("t.down", () => {});
      const event = await elapsed(() => bus.publishEvent("t.down", enc("x"), { msgId: "1" }));
      assert.match(String(event.error), /not connected/);
      assert.ok(event.ms < 1000, `publishEvent took ${event.ms} ms`);
      await assert.rejects(bus.ensureStream({ name: "t_down", subjects: ["t.down"] }), /not connected/);
      await sleep(1200); // several reconnect attempts
      sub.unsubscribe();
      assert.equal(messages().filter((m) => m.includes("nats unavailable")).length, 1, JSON.stringify(messages()));
    } finally {
      const closing = await elapsed(() => bus.close());
      assert.ok(closing.ms < 500, `close took ${closing.ms} ms`);
    }
  });

  it("carries on after a broker restart: subscriptions, consumers, readiness", {
    skip: natsServerMissing,
    timeout: 30_000,
  }, async () => {
    const port = await restartablePort();
    const store = mkdtempSync(join(tmpdir(), "weelo-nats-"));
    let server = startNats(port, store);
    const { logger, messages } = capturingBusLogger();
    const bus = createBus({ config: { NATS_URL: `nats://127.0.0.1:${port}` }, service: "bus-test", logger });
    const core: string[] = [];
    const events: string[] = [];
    try {
      await until("nats is up", () => answers(() => bus.ping()));
      bus.subscribe("live.>", (m) => void core.push(dec(m.data)));
      await bus.ensureStream({ name: "EVENTS", subjects: ["evt.>"] });
      const consumer = await bus.consume({
        stream: "EVENTS",
        durable: "restart",
        handler: (m) => void events.push(dec(m.data)),
      });
      bus.publish("live.1", enc("before"));
      await bus.publishEvent("evt.1", enc("before"), { msgId: "e1" });
      await until("messages before the restart", () => core.length === 1 && events.length === 1);

      await stopNats(server);
      await until("readiness sees the outage", async () => !(await answers(() => bus.ping())));
      server = startNats(port, store);
      await until("readiness sees the broker again", () => answers(() => bus.ping()));

      bus.publish("live.2", enc("after"));
      await bus.publishEvent("evt.2", enc("after"), { msgId: "e2" });
      await until("messages after the restart", () => core.length === 2 && events.length === 2, 15_000);
      assert.deepEqual(core, ["before", "after"]);
      assert.deepEqual(events, ["before", "after"]);
      await consumer.stop();
      const log = messages();
      assert.equal(log.filter((m) => m.includes("nats disconnected")).length, 1, JSON.stringify(log));
      assert.equal(log.filter((m) => m.includes("nats reconnected")).length, 1, JSON.stringify(log));
    } finally {
      await bus.close();
      await stopNats(server);
      rmSync(store, { recursive: true, force: true });
    }
  });
});

describe("nats bus streams", () => {
  it("creates and updates streams with NATS_STREAM_REPLICAS copies (a single server refuses to create more than one)", {
    skip: natsServerMissing,
    timeout: 30_000,
  }, async () => {
    const port = await restartablePort();
    const store = mkdtempSync(join(tmpdir(), "weelo-nats-"));
    const server = startNats(port, store);
    const url = `nats://127.0.0.1:${port}`;
    const { logger } = capturingBusLogger();
    const single = createBus({ config: { NATS_URL: url, NATS_STREAM_REPLICAS: 1 }, service: "bus-test", logger });
    const clustered = createBus({ config: { NATS_URL: url, NATS_STREAM_REPLICAS: 3 }, service: "bus-test", logger });
    const nc = await until("nats is up", () => answers(() => single.ping())).then(() => connect({ servers: url }));
    try {
      await single.ensureStream({ name: "ONE", subjects: ["one.>"] });
      const jsm = await jetstreamManager(nc);
      assert.equal((await jsm.streams.info("ONE")).config.num_replicas, 1);
      // The setting reaches the server: three copies need a cluster, which this server is not.
      await assert.rejects(clustered.ensureStream({ name: "THREE", subjects: ["three.>"] }), /replica|cluster/i);
      // An existing stream is brought in line (how an operator raises the copies of a running system).
      await clustered.ensureStream({ name: "ONE", subjects: ["one.>"] });
      assert.equal((await jsm.streams.info("ONE")).config.num_replicas, 3);
    } finally {
      await nc.close();
      await single.close();
      await clustered.close();
      await stopNats(server);
      rmSync(store, { recursive: true, force: true });
    }
  });
});
