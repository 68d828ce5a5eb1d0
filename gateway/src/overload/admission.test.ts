/**
 * Admission's decisions for a call that finds no permit, on a fake event-loop lag: it waits
 * while the line has room, is refused at once when the line is full, and, once the line has
 * overflowed, at once too while the loop lags more than the longest wait (as long as calls
 * keep being refused); refusals are counted
 * in weelo_gateway_shed_total by reason.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import client from "prom-client";
import { Admission, type AdmissionSettings } from "./admission.js";

function admissionWith(loopLag: { ms: number }, waits = { maxQueueWaitMs: 20, overloadedQueueWaitMs: 5 }) {
  const queue = { concurrency: 1, maxQueued: 1 };
  const settings: AdmissionSettings = {
    queues: { default: queue, booking: queue, tracking: queue, auth: queue },
    ...waits,
    adaptive: { enabled: false, minLimit: 1, initialLimit: 1, tolerance: 1.5, maxLoopLagMs: 0 },
    maxOpenStreams: 1,
    rateLimits: { enabled: false, windowSeconds: 60, perIp: {} as never, perUser: {} as never },
  };
  const registry = new client.Registry();
  const admission = new Admission(
    settings,
    {
      metrics: { registry } as never,
      cache: { redisClient: () => undefined } as never,
      config: { CACHE_KEY_PREFIX: "t:" } as never,
    },
    loopLag,
  );
  const shed = async () =>
    Object.fromEntries(
      ((await registry.getSingleMetric("weelo_gateway_shed_total")?.get())?.values ?? []).map((v) => [
        `${v.labels.class}/${v.labels.reason}`,
        v.value,
      ]),
    );
  return { admission, shed };
}

describe("admission of a call that finds no permit", () => {
  it("lets it wait while the line has room, even when the loop lags, until the line overflows", async () => {
    const lag = { ms: 100 };
    const { admission, shed } = admissionWith(lag);
    const held = admission.tryUnary("default")!;
    assert.equal(admission.refuseAtOnce("default"), undefined, "at capacity a lagging loop still lets calls wait");
    const outcomes: unknown[] = [];
    const leave = admission.waitUnary("default", undefined, (outcome) => outcomes.push(outcome));
    assert.equal(admission.refuseAtOnce("default"), "queue_full");
    leave();
    assert.deepEqual(outcomes, ["cancelled"]);
    assert.equal(admission.refuseAtOnce("default"), "loop_lag", "overloaded and lagging: no more waiting");
    assert.equal(admission.refuseAtOnce("default"), "loop_lag", "and it stays so while calls keep coming");
    lag.ms = 10;
    assert.equal(admission.refuseAtOnce("default"), "loop_lag", "overloaded: the loop lags more than the short wait");
    lag.ms = 2;
    assert.equal(admission.refuseAtOnce("default"), undefined, "the loop keeps up again: the line reopens");
    assert.equal(admission.refuseAtOnce("booking"), undefined, "each class apart");
    held.success();
    assert.deepEqual(await shed(), { "default/queue_full": 1, "default/loop_lag": 3 });
    assert.deepEqual(await shed(), { "default/queue_full": 1, "default/loop_lag": 3 }, "counted once");
  });

  it("waits the long wait until the class is overloaded, then the short one, and the long one again a second after", async () => {
    const { admission, shed } = admissionWith({ ms: 0 }, { maxQueueWaitMs: 1000, overloadedQueueWaitMs: 10 });
    const held = admission.tryUnary("default")!;
    const wait = async () => {
      const started = performance.now();
      const outcome = await new Promise((resolve) => admission.waitUnary("default", undefined, resolve));
      return { outcome, ms: performance.now() - started };
    };
    const burst = await wait();
    assert.equal(burst.outcome, "wait_timeout");
    assert.ok(burst.ms >= 990, `a burst waits the long wait (${burst.ms} ms)`);
    // The wait that ran out marked the class overloaded: the next waits are short.
    for (let i = 0; i < 3; i++) {
      const overloaded = await wait();
      assert.equal(overloaded.outcome, "wait_timeout");
      assert.ok(overloaded.ms < 500, `overloaded: the short wait (${overloaded.ms} ms)`);
    }
    assert.equal(admission.refuseAtOnce("booking"), undefined, "each class apart");
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const calm = await wait();
    assert.ok(calm.ms >= 990, `a second without refusals: the long wait again (${calm.ms} ms)`);
    held.success();
    assert.deepEqual(await shed(), { "default/wait_timeout": 5 });
  });

  it("refuses at the caller's own deadline when it comes before the longest wait, and counts streams apart", async () => {
    const { admission, shed } = admissionWith({ ms: 0 });
    const held = admission.tryUnary("default")!;
    const outcome = await new Promise((resolve) => admission.waitUnary("default", 5, resolve));
    assert.equal(outcome, "deadline");
    const release = admission.enterStream("tracking")!;
    assert.equal(admission.enterStream("tracking"), undefined);
    release();
    held.success();
    assert.deepEqual(await shed(), { "default/deadline": 1, "tracking/streams_full": 1 });
  });
});
