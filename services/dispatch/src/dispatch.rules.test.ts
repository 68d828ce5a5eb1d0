import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  acceptRefusal,
  dueStep,
  firstWaveAt,
  isPermanentFailure,
  retryDelayMs,
  roundLengthMs,
  waveCandidates,
  wavePlan,
} from "./dispatch.rules.js";

describe("dispatch rules", () => {
  const plan = wavePlan([3, 6, 10, 20], 30_000);

  it("plans waves of growing radius, then the expiry", () => {
    assert.deepEqual(dueStep(plan, 0), { kind: "wave", index: 0, radiusM: 3000, last: false });
    assert.deepEqual(dueStep(plan, 3), { kind: "wave", index: 3, radiusM: 20_000, last: true });
    assert.deepEqual(dueStep(plan, 4), { kind: "expire" });
    assert.equal(roundLengthMs(plan), 120_000);
  });

  it("starts the first wave when every booking of the order is known, else after the gathering time", () => {
    const now = new Date("2026-11-26T10:00:00Z");
    assert.equal(firstWaveAt(3, 3, now, 2000).getTime(), now.getTime());
    assert.equal(firstWaveAt(1, 3, now, 2000).getTime(), now.getTime() + 2000);
  });

  it("offers each transporter once, nearest first, never one already offered, at most the cap", () => {
    const candidates = waveCandidates(
      {
        nearbyDrivers: [
          { transporterId: "a", distanceM: 900 },
          { transporterId: "b", distanceM: 300 },
          { transporterId: "a", distanceM: 200 },
          { transporterId: "", distanceM: 10 },
        ],
        servingTransporters: [
          { transporterId: "c", distanceM: 2500 },
          { transporterId: "d", distanceM: 100 },
          { transporterId: "b", distanceM: 50 },
        ],
      },
      new Set(["d"]),
      2,
    );
    assert.deepEqual(candidates, [
      { transporterId: "b", distanceM: 50 },
      { transporterId: "a", distanceM: 200 },
    ]);
  });

  it("explains a lost acceptance: every truck taken, fewer open than asked, or the order closed", () => {
    assert.equal(acceptRefusal({ status: "filled", open_trucks: 0 }, 1).reason, "ALREADY_TAKEN");
    const fewer = acceptRefusal({ status: "open", open_trucks: 2 }, 3);
    assert.equal(fewer.reason, "NOT_ENOUGH_TRUCKS_OPEN");
    assert.match(fewer.message, /only 2 trucks are still open/);
    assert.equal(acceptRefusal({ status: "expired", open_trucks: 0 }, 1).reason, "OFFER_CLOSED");
    assert.equal(acceptRefusal(undefined, 1).reason, "ALREADY_TAKEN");
  });

  it("retries booking calls with a doubling delay capped at a minute; refusals are not retried", () => {
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => retryDelayMs(n, 1000)),
      [1000, 2000, 4000, 8000],
    );
    assert.equal(retryDelayMs(30, 1000), 60_000);
    assert.equal(isPermanentFailure(9), true, "FAILED_PRECONDITION");
    assert.equal(isPermanentFailure(14), false, "UNAVAILABLE");
    assert.equal(isPermanentFailure(undefined), false, "not a gRPC status (a network error)");
  });
});
