/**
 * Revocation notices between processes: two SessionWatch instances on two bus connections
 * (two processes' worth: two in-process buses on one broker, or two NATS connections) — a
 * session announced on one is told to the watchers of the other, once; a watch that starts
 * just after the revocation is still told; a stopped watch is not; a bad notice is reported.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import { createBus, MemoryBroker, type Bus } from "@weelo/bus";
import { createLogger } from "@weelo/log";
import { sleep, until } from "@weelo/testing";
import { SESSION_REVOKED_SUBJECT, SessionWatch, type SessionRevoked } from "./index.js";

const logger = createLogger({ service: "session-watch-test", level: "silent" });
const NATS_URL = process.env.NATS_URL;

const backends = [
  { name: "memory", url: undefined, skip: false as const },
  { name: "nats", url: NATS_URL, skip: NATS_URL ? (false as const) : "NATS_URL not set" },
];

for (const backend of backends) {
  describe(`SessionWatch over the bus (${backend.name})`, { skip: backend.skip }, () => {
    const broker = new MemoryBroker();
    const buses: Bus[] = [];
    const watches: SessionWatch[] = [];
    const errors: unknown[] = [];
    /** One process: its own bus connection and its own watch. */
    function process(): { bus: Bus; sessions: SessionWatch } {
      const bus = createBus({
        config: { NATS_URL: backend.url },
        service: "session-watch-test",
        logger,
        memoryBroker: broker,
      });
      const sessions = new SessionWatch(bus, { rememberMs: 60_000, onError: (error) => errors.push(error) });
      buses.push(bus);
      watches.push(sessions);
      return { bus, sessions };
    }
    after(async () => {
      for (const watch of watches) watch.close();
      for (const bus of buses) await bus.close();
    });

    it("tells the other process's watchers of an announced session, once", async () => {
      const identity = process();
      const gateway = process();
      await sleep(backend.url ? 200 : 0); // NATS: let both subscriptions reach the server
      const sessionId = randomUUID();
      const told: SessionRevoked[] = [];
      const other: SessionRevoked[] = [];
      gateway.sessions.watch(sessionId, (notice) => told.push(notice));
      gateway.sessions.watch(randomUUID(), (notice) => other.push(notice));
      assert.equal(gateway.sessions.watched, 2);

      identity.sessions.announce({ sessionId, userId: "user-1" });
      await until("the gateway hears of it", () => told.length === 1, 5000);
      await sleep(100);
      assert.deepEqual(told, [{ sessionId, userId: "user-1" }], "told exactly once");
      assert.deepEqual(other, [], "other sessions are not told");
      assert.equal(gateway.sessions.watched, 1, "a told watch is gone");
    });

    it("tells a watch that starts just after the revocation, and not a stopped one", async () => {
      const identity = process();
      const service = process();
      await sleep(backend.url ? 200 : 0);
      const sessionId = randomUUID();
      let stoppedTold = 0;
      const stop = service.sessions.watch(sessionId, () => (stoppedTold += 1));
      stop();
      identity.sessions.announce({ sessionId, userId: "user-2" });
      await sleep(200);
      assert.equal(stoppedTold, 0);

      let lateTold: SessionRevoked | undefined;
      service.sessions.watch(sessionId, (notice) => (lateTold = notice));
      await until("the late watch is told", () => lateTold !== undefined, 2000);
      assert.equal(lateTold!.userId, "user-2");
    });

    it("reports a notice it cannot read and keeps working", async () => {
      const { bus, sessions } = process();
      await sleep(backend.url ? 200 : 0);
      const before = errors.length;
      bus.publish(SESSION_REVOKED_SUBJECT, new TextEncoder().encode("not json"));
      await until("the bad notice is reported", () => errors.length > before, 2000);
      const sessionId = randomUUID();
      let told = false;
      sessions.watch(sessionId, () => (told = true));
      sessions.announce({ sessionId, userId: "user-3" });
      await until("the next notice still works", () => told, 2000);
    });

    it("tells watcher objects (add/remove) like functions: each once, a removed one never, none after the revocation", async () => {
      const identity = process();
      const service = process();
      await sleep(backend.url ? 200 : 0);
      const sessionId = randomUUID();
      const told: string[] = [];
      const watcher = (name: string) => ({
        sessionRevoked: (notice: SessionRevoked) => told.push(`${name}:${notice.userId}`),
      });
      const first = watcher("first");
      const removed = watcher("removed");
      const third = watcher("third");
      assert.equal(service.sessions.add(sessionId, first), true);
      assert.equal(service.sessions.add(sessionId, removed), true);
      service.sessions.watch(sessionId, (notice) => told.push(`function:${notice.userId}`));
      assert.equal(service.sessions.add(sessionId, third), true);
      service.sessions.remove(sessionId, removed);
      assert.equal(service.sessions.watched, 1, "one entry for the session, however many watch it");

      identity.sessions.announce({ sessionId, userId: "user-4" });
      await until("the watchers are told", () => told.length === 3, 5000);
      await sleep(100);
      assert.deepEqual(told.sort(), ["first:user-4", "function:user-4", "third:user-4"]);
      assert.equal(service.sessions.watched, 0);
      assert.equal(service.sessions.add(sessionId, watcher("late")), false, "a revoked session registers nothing");
      assert.equal(service.sessions.watched, 0);

      // One watcher alone (kept without a set), removed again: nothing left, nothing told.
      const alone = randomUUID();
      service.sessions.add(alone, first);
      service.sessions.remove(alone, first);
      assert.equal(service.sessions.watched, 0);
    });
  });
}
