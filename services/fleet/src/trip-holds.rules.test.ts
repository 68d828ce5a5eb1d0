import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BookingStatus } from "@weelo/contracts/grpc/weelo/booking/v1/booking";
import { planTripHold, type TripHold } from "./trip-holds.rules.js";

const none: TripHold = { sequence: 0, active: false, driverId: null, vehicleId: null };
const a = { driverId: "d1", vehicleId: "v1" };
const b = { driverId: "d2", vehicleId: "v2" };

describe("planTripHold", () => {
  it("takes the pair on assignment and keeps it through the trip steps", () => {
    const assigned = planTripHold(none, { sequence: 2, to: BookingStatus.BOOKING_STATUS_ASSIGNED, ...a });
    assert.deepEqual(assigned, {
      kind: "apply",
      release: undefined,
      take: a,
      next: { sequence: 2, active: true, ...a },
    });
    const held = { sequence: 2, active: true, ...a };
    const enRoute = planTripHold(held, { sequence: 3, to: BookingStatus.BOOKING_STATUS_IN_TRANSIT, ...a });
    assert.equal(enRoute.kind === "apply" && enRoute.release, undefined, "the same pair is not released");
  });

  it("releases on the end, on a reopen without crew, and the old pair on reassignment", () => {
    const held = { sequence: 2, active: true, ...a };
    for (const to of [BookingStatus.BOOKING_STATUS_COMPLETED, BookingStatus.BOOKING_STATUS_CANCELLED]) {
      assert.deepEqual(planTripHold(held, { sequence: 3, to, ...a }), {
        kind: "apply",
        release: a,
        take: undefined,
        next: { sequence: 3, active: false, ...a },
      });
    }
    const reopened = planTripHold(held, {
      sequence: 3,
      to: BookingStatus.BOOKING_STATUS_CONFIRMED,
      driverId: "",
      vehicleId: "",
    });
    assert.deepEqual(reopened.kind === "apply" && reopened.release, a);
    const reassigned = planTripHold(held, { sequence: 3, to: BookingStatus.BOOKING_STATUS_ASSIGNED, ...b });
    assert.deepEqual(reassigned.kind === "apply" && [reassigned.release, reassigned.take], [a, b]);
  });

  it("ignores an event no newer than the last applied: redeliveries and a late start after the end", () => {
    const ended = { sequence: 6, active: false, ...a };
    assert.deepEqual(planTripHold(ended, { sequence: 2, to: BookingStatus.BOOKING_STATUS_ASSIGNED, ...a }), {
      kind: "stale",
    });
    assert.deepEqual(planTripHold(ended, { sequence: 6, to: BookingStatus.BOOKING_STATUS_COMPLETED, ...a }), {
      kind: "stale",
    });
  });
});
