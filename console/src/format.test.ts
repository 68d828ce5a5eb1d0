/** How the console writes statuses, money, distances and ids. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BookingStatus } from "@weelo/contracts/es/weelo/booking/v1/booking_pb";
import { AuditAction, TruckState } from "@weelo/contracts/es/weelo/ops/v1/ops_pb";
import {
  ALL_STATUSES,
  actionName,
  distance,
  OPEN_STATUSES,
  rupees,
  shortId,
  statusName,
  truckColour,
  truckStateName,
} from "./format.js";

describe("the console's formats", () => {
  it("names enum values in words", () => {
    assert.equal(statusName(BookingStatus.DRIVER_EN_ROUTE), "driver en route");
    assert.equal(actionName(AuditAction.CANCEL_BOOKING), "cancel booking");
    assert.equal(truckStateName(TruckState.ON_TRIP), "on a trip");
    assert.notEqual(truckColour(TruckState.FREE), truckColour(TruckState.OFFERED));
  });

  it("writes paise as rupees, metres as m or km, and UUIDs by their random end", () => {
    assert.equal(rupees(123456n), "₹1,234.56");
    assert.equal(rupees(12345678900n), "₹12,34,56,789.00");
    assert.equal(distance(850.4), "850 m");
    assert.equal(distance(12_449), "12.4 km");
    assert.equal(shortId("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"), "…2e3f4a5b");
    assert.equal(shortId("abc"), "abc");
  });

  it("filters open bookings as every status but the final two", () => {
    assert.equal(OPEN_STATUSES.length, ALL_STATUSES.length - 2);
    assert.ok(!OPEN_STATUSES.includes(BookingStatus.COMPLETED));
    assert.ok(!OPEN_STATUSES.includes(BookingStatus.CANCELLED));
  });
});
