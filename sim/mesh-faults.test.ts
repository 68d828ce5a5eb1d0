/**
 * The figures of a mesh fault from what the apps saw, and the processes the mesh reads from
 * docker-compose.yml.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CallEvent } from "./api.js";
import { faultFigures, MESH_FAULT_TARGETS } from "./mesh-faults.js";
import { composeProcesses } from "./mesh.js";

const ok = (startedAt: number, endedAt: number, attempts = 1): CallEvent => ({
  startedAt,
  endedAt,
  attempts,
  outcome: "ok",
});

/** Acknowledgements every 100 ms from `from` to `to`, one more point a second except in the gaps. */
function acks(from: number, to: number, gaps: [number, number][] = []): [number, number][] {
  const samples: [number, number][] = [];
  let count = 0;
  for (let t = from; t < to; t += 100) {
    if (t % 1000 === 0 && !gaps.some(([a, b]) => t >= a && t < b)) count += 1;
    samples.push([t, count]);
  }
  return samples;
}

describe("faultFigures", () => {
  it("counts the failed attempts and retried calls of the window and finds full service after the last failure", () => {
    const log = {
      calls: [
        ok(0, 50),
        ok(9_000, 9_050),
        ok(10_100, 12_600, 3),
        ok(12_700, 12_750),
        ok(13_000, 13_040),
        ok(30_000, 30_010),
      ],
      retryTimes: [10_400, 11_200],
    };
    const figures = faultFigures(log, acks(0, 22_000), 10_000, 11_500, 22_000);
    assert.equal(figures.failedAttempts, 2);
    assert.equal(figures.retriedCalls, 1);
    assert.equal(figures.gaveUp, 0);
    // Ready at 11.5 s, but the retried call only succeeded at 12.6 s: the first success after the last failure.
    assert.equal(figures.fullServiceAfterMs, 2600);
    // Calls that started after full service and before the window ended: 12.7 s and 13 s.
    assert.equal(figures.p99AfterMs, 50);
    assert.equal(figures.p99WindowS, 9);
    assert.ok(figures.pointsStallMs <= 1000, `no stall, got ${figures.pointsStallMs}`);
  });

  it("waits for the points to flow again after a stall longer than the threshold", () => {
    const log = { calls: [ok(10_500, 10_600)], retryTimes: [] };
    const figures = faultFigures(log, acks(0, 30_000, [[10_000, 15_000]]), 10_000, 10_400, 30_000);
    assert.equal(figures.failedAttempts, 0);
    // The acknowledgement after the gap comes at 15 s: full service then, not when the process was ready.
    assert.equal(figures.fullServiceAfterMs, 5000);
    assert.ok(figures.pointsStallMs >= 5000);
  });

  it("reports no full service while a call's retries ran out and nothing succeeded after", () => {
    const log = {
      calls: [{ startedAt: 10_100, endedAt: 15_000, attempts: 4, outcome: "failed" as const }],
      retryTimes: [10_200, 10_500, 11_000],
    };
    const figures = faultFigures(log, acks(0, 20_000), 10_000, 12_000, 20_000);
    assert.equal(figures.gaveUp, 1);
    assert.equal(figures.failedAttempts, 4);
    assert.equal(figures.fullServiceAfterMs, null);
  });
});

describe("composeProcesses", () => {
  it("reads every process the fault mode kills, with its upstreams on the mesh port", () => {
    const processes = composeProcesses();
    const names = processes.map((p) => p.name).sort();
    assert.deepEqual(names, [...MESH_FAULT_TARGETS].sort());
    const dispatch = processes.find((p) => p.name === "dispatch")!;
    assert.equal(dispatch.main, "dist/services/dispatch/main.js");
    assert.equal(dispatch.environment.BOOKING_GRPC_URL, "booking:50052");
    assert.equal(dispatch.environment.MESH_IDENTITY, "dispatch");
    assert.equal(processes.find((p) => p.name === "gateway")!.environment.DATABASE_URL, undefined);
  });
});
