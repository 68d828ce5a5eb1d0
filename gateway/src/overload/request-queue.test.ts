/** The gateway's request queue alone: arrival order, the line's length, deadlines, cancels and the longest wait. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RequestQueue, ShedError } from "./request-queue.js";

describe("request queues", () => {
  it("grants slots in arrival order and refuses at once beyond the line", async () => {
    const queue = new RequestQueue("test", 1, 2);
    const first = await queue.acquire({ maxWaitMs: 5000 });
    const order: string[] = [];
    const second = queue.acquire({ maxWaitMs: 5000 }).then((release) => {
      order.push("second");
      return release;
    });
    const third = queue.acquire({ maxWaitMs: 5000 }).then((release) => {
      order.push("third");
      return release;
    });
    await assert.rejects(
      queue.acquire({ maxWaitMs: 5000 }),
      (e: unknown) => e instanceof ShedError && e.reason === "queue_full",
    );
    assert.deepEqual(queue.stats(), { active: 1, waiting: 2 });
    first();
    first(); // releasing twice frees one slot only
    (await second)();
    (await third)();
    assert.deepEqual(order, ["second", "third"]);
    assert.deepEqual(queue.stats(), { active: 0, waiting: 0 });
  });

  it("lets a waiting call leave at its deadline, on cancel or after the longest wait, and frees its place", async () => {
    const queue = new RequestQueue("test", 1, 1);
    const held = await queue.acquire({ maxWaitMs: 5000 });
    const deadline = new AbortController();
    const waiting = queue.acquire({ maxWaitMs: 5000, signal: deadline.signal, isDeadline: (r) => r === "deadline" });
    deadline.abort("deadline");
    await assert.rejects(waiting, (e: unknown) => e instanceof ShedError && e.reason === "deadline");
    await assert.rejects(
      queue.acquire({ maxWaitMs: 20 }),
      (e: unknown) => e instanceof ShedError && e.reason === "wait_timeout",
    );
    const cancelled = new AbortController();
    const leaving = queue.acquire({ maxWaitMs: 5000, signal: cancelled.signal });
    cancelled.abort();
    await assert.rejects(leaving, (e: unknown) => e instanceof ShedError && e.reason === "cancelled");
    assert.deepEqual(queue.stats(), { active: 1, waiting: 0 }, "departed callers hold no place in line");
    held();
    (await queue.acquire({ maxWaitMs: 10 }))();
  });
});
