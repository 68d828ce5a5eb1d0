/**
 * The adaptive concurrency limit on a fake clock: it grows while latency stays normal, shrinks
 * when calls start queueing, backs off on drops and ignores callers that set the pace; the
 * limiter in front of it grants permits up to the limit, lets callers wait LIFO for a bounded
 * time, refuses at once beyond its line (with a stackless error, or a plain reason to a
 * callback), and lets waiters leave at their deadline or on cancel; the event loop's lag is
 * read per window.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  AdaptiveLimiter,
  EventLoopLag,
  FixedLimit,
  GradientLimit,
  type LimitRejection,
  LimitRejectedError,
  type Permit,
} from "./index.js";

/** Feeds `windows` full sampling windows of `rttMs` calls with `inflight` in flight; returns the clock. */
function feed(limit: GradientLimit, start: number, windows: number, rttMs: number, inflight: number): number {
  let now = start;
  for (let w = 0; w < windows; w++) {
    for (let i = 0; i < 10; i++) {
      now += 12; // ten samples span a window (100 ms) exactly
      limit.addSample(now, rttMs, inflight);
    }
  }
  return now;
}

describe("gradient limit", () => {
  it("grows while latency stays at its long-term level, up to the maximum", () => {
    const limit = new GradientLimit({ initialLimit: 20, minLimit: 5, maxLimit: 100 });
    let now = feed(limit, 0, 3, 10, 20);
    const first = limit.limit;
    assert.ok(first > 20, `grew after three windows, got ${first}`);
    now = feed(limit, now, 200, 10, 100);
    assert.equal(limit.limit, 100, "capped at the maximum");
  });

  it("shrinks when latency rises well above its long-term level, down to the minimum", () => {
    const limit = new GradientLimit({ initialLimit: 80, minLimit: 10, maxLimit: 100 });
    let now = feed(limit, 0, 20, 10, 80); // the long-term RTT learns 10 ms
    const before = limit.limit;
    now = feed(limit, now, 1, 40, before); // 4x the usual latency: queueing
    assert.ok(limit.limit < before, `shrank: ${before} -> ${limit.limit}`);
    feed(limit, now, 100, 40, 100);
    assert.ok(limit.limit < before, "latency held high keeps it low");
    const floor = new GradientLimit({ initialLimit: 12, minLimit: 10, maxLimit: 100 });
    feed(floor, feed(floor, 0, 20, 10, 12), 30, 200, 100);
    assert.equal(floor.limit, 10, "never below the minimum");
  });

  it("tolerates latency within the tolerance, and does not move when the callers set the pace", () => {
    const limit = new GradientLimit({ initialLimit: 50, minLimit: 5, maxLimit: 1000, tolerance: 2 });
    const now = feed(limit, 0, 10, 10, 50);
    const before = limit.limit;
    feed(limit, now, 1, 19, before); // +90%, within 2x
    assert.ok(limit.limit >= before, "no shrink within tolerance");
    const idle = new GradientLimit({ initialLimit: 50, minLimit: 5, maxLimit: 1000 });
    feed(idle, 0, 50, 10, 3); // 3 calls in flight of 50 allowed
    assert.equal(idle.limit, 50, "application-limited windows leave the limit alone");
  });

  it("backs off on a window with a dropped call, and waits for a window to close before moving", () => {
    const limit = new GradientLimit({ initialLimit: 50, minLimit: 5, maxLimit: 100 });
    limit.addSample(0, 10, 50);
    limit.addSample(50, 10, 50);
    assert.equal(limit.limit, 50, "a window needs its samples and its minimum time");
    limit.addSample(60, 10, 50, true);
    limit.addSample(1100, 10, 50); // the longest window is over
    assert.equal(limit.limit, 45, "x0.9 for the drop");
    assert.throws(() => new GradientLimit({ initialLimit: 1, minLimit: 0, maxLimit: 1 }), RangeError);
  });

  it("backs off while its resource is congested, though round trips learnt under load look normal", () => {
    let congested = true;
    const limit = new GradientLimit({ initialLimit: 48, minLimit: 10, maxLimit: 48, congested: () => congested });
    // Loaded from the first window: the same RTT throughout, so the gradient alone never moves it.
    let now = feed(limit, 0, 10, 40, 48);
    assert.ok(limit.limit < 20, `backed off x0.9 a window: ${limit.limit}`);
    now = feed(limit, now, 30, 40, 48);
    assert.equal(limit.limit, 10, "never below the minimum");
    congested = false;
    feed(limit, now, 20, 40, 48);
    assert.ok(limit.limit > 20, `grows again once the congestion is gone: ${limit.limit}`);
    const paced = new GradientLimit({ initialLimit: 48, minLimit: 10, maxLimit: 48, congested: () => true });
    feed(paced, 0, 20, 40, 5);
    assert.equal(paced.limit, 48, "a lag its own few calls did not cause leaves the limit alone");
  });
});

const rejection = (reason: string) => (e: unknown) => e instanceof LimitRejectedError && e.reason === reason;

describe("adaptive limiter", () => {
  it("grants up to the limit, lets the newest waiter in first, and refuses beyond its line at once", async () => {
    const limiter = new AdaptiveLimiter({ limit: new FixedLimit(1), maxQueued: 2 });
    const held = limiter.tryAcquire()!;
    assert.equal(limiter.tryAcquire(), undefined);
    const order: string[] = [];
    const granted = (name: string) => (permit: Permit) => {
      order.push(name);
      return permit;
    };
    const older = limiter.acquire({ maxWaitMs: 5000 }).then(granted("older"));
    const newer = limiter.acquire({ maxWaitMs: 5000 }).then(granted("newer"));
    await assert.rejects(limiter.acquire({ maxWaitMs: 5000 }), rejection("queue_full"));
    assert.deepEqual(limiter.stats(), { inflight: 1, waiting: 2, limit: 1 });
    held.success();
    held.success(); // a second report frees nothing more
    (await newer).ignore();
    (await older).success();
    assert.deepEqual(order, ["newer", "older"]);
    assert.deepEqual(limiter.stats(), { inflight: 0, waiting: 0, limit: 1 });
    await assert.rejects(
      new AdaptiveLimiter({ limit: new FixedLimit(1), maxQueued: 0 }).acquire({
        maxWaitMs: 0,
        signal: AbortSignal.abort(),
      }),
      rejection("cancelled"),
    );
  });

  it("lets a waiter leave at its deadline, on cancel or after the longest wait, freeing its place", async () => {
    const limiter = new AdaptiveLimiter({ limit: new FixedLimit(1), maxQueued: 1 });
    const held = limiter.tryAcquire()!;
    const deadline = new AbortController();
    const waiting = limiter.acquire({ maxWaitMs: 5000, signal: deadline.signal, isDeadline: (r) => r === "deadline" });
    deadline.abort("deadline");
    await assert.rejects(waiting, rejection("deadline"));
    await assert.rejects(limiter.acquire({ maxWaitMs: 20 }), rejection("wait_timeout"));
    const cancelled = new AbortController();
    const leaving = limiter.acquire({ maxWaitMs: 5000, signal: cancelled.signal });
    cancelled.abort();
    await assert.rejects(leaving, rejection("cancelled"));
    assert.deepEqual(limiter.stats(), { inflight: 1, waiting: 0, limit: 1 }, "departed callers hold no place");
    held.success();
    (await limiter.acquire({ maxWaitMs: 10 })).success();
  });

  it("waits without a promise: settles at once when it can, once per caller, and lets a caller leave", async () => {
    const limiter = new AdaptiveLimiter({ limit: new FixedLimit(1), maxQueued: 1 });
    const outcomes: (Permit | LimitRejection)[] = [];
    limiter.wait(5000, (outcome) => outcomes.push(outcome));
    assert.equal(typeof outcomes[0], "object", "a permit at once");
    const leave = limiter.wait(5000, (outcome) => outcomes.push(outcome));
    assert.equal(outcomes.length, 1, "the second caller waits");
    assert.equal(limiter.lineFull, true);
    limiter.wait(5000, (outcome) => outcomes.push(outcome));
    assert.equal(outcomes[1], "queue_full", "refused at once beyond the line");
    leave();
    leave();
    assert.deepEqual(outcomes.slice(2), ["cancelled"], "leaving settles once");
    assert.equal(limiter.lineFull, false);
    limiter.wait(5000, (outcome) => outcomes.push(outcome));
    (outcomes[0] as Permit).success();
    assert.equal(typeof outcomes[3], "object", "a freed permit goes to the waiter");
    limiter.wait(10, (outcome) => outcomes.push(outcome));
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(outcomes[4], "wait_timeout");
  });

  it("refuses with an error that carries no stack trace (a refusal is an expected outcome)", () => {
    const error = new LimitRejectedError("queue_full");
    assert.ok(error instanceof Error);
    assert.equal(error.message, "no permit: queue_full");
    assert.doesNotMatch(error.stack ?? "", /\n\s+at /);
    assert.match(new Error("x").stack ?? "", /\n\s+at /, "other errors keep theirs");
  });

  it("feeds round trips to the limit on its clock: successes and drops count, ignored calls do not", () => {
    let clock = 0;
    const samples: [number, number, boolean][] = [];
    const limiter = new AdaptiveLimiter({
      limit: { limit: 10, addSample: (_now, rtt, inflight, dropped) => samples.push([rtt, inflight, dropped]) },
      maxQueued: 0,
      now: () => clock,
    });
    const a = limiter.tryAcquire()!;
    const b = limiter.tryAcquire()!;
    const c = limiter.tryAcquire()!;
    clock = 7;
    a.success();
    b.ignore();
    clock = 9;
    c.dropped();
    assert.deepEqual(samples, [
      [7, 1, false],
      [9, 3, true],
    ]);
  });
});

describe("event loop lag", () => {
  it("reports how late the loop ran in the last window", async () => {
    const lag = new EventLoopLag({ windowMs: 20, resolutionMs: 1 });
    try {
      await new Promise((r) => setTimeout(r, 50));
      const blockedUntil = performance.now() + 150;
      while (performance.now() < blockedUntil); // the loop is held: every timer fires late
      await new Promise((r) => setTimeout(r, 5));
      assert.ok(lag.ms >= 100, `the block shows: ${lag.ms} ms`);
      await new Promise((r) => setTimeout(r, 100));
      assert.ok(lag.ms < 100, `and is gone a window later: ${lag.ms} ms`);
    } finally {
      lag.stop();
    }
  });
});
