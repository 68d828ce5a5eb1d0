import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidArgumentError } from "@weelo/errors";
import {
  computeFare,
  isNightTime,
  istMinuteOfDay,
  mulDivRoundHalfUp,
  multiplierToHundredths,
  normalizeVehicleTypeId,
  orderTotalPaise,
  parseClockTime,
  surgeApplies,
  surgeMultiplier,
  validateLocation,
  validateScheduledAt,
  validateTrip,
  type FareInput,
} from "./pricing.rules.js";
import { estimateRoad, haversineMeters } from "./routing/estimate.js";

const miniTruck = { baseFarePaise: 25_000, perKmPaise: 1_800, minBillableKm: 3 };
const day: Omit<FareInput, "distanceM"> = {
  tariff: miniTruck,
  night: false,
  nightChargeBps: 1000,
  surgeMultiplier: 1,
  gstRateBps: 500,
};

const invalid = (field: string, reason?: string) => (error: unknown) =>
  error instanceof InvalidArgumentError && error.field === field && (reason === undefined || error.reason === reason);

describe("money arithmetic", () => {
  it("divides once, rounding half up, exactly even for large products", () => {
    assert.equal(mulDivRoundHalfUp(12_345, 1_800, 1000), 22_221);
    assert.equal(mulDivRoundHalfUp(12_346, 1_800, 1000), 22_223, "22 222.8 rounds up");
    assert.equal(mulDivRoundHalfUp(12_345, 1_100, 1000), 13_580, "13 579.5 rounds half up");
    assert.equal(mulDivRoundHalfUp(12_344, 1_100, 1000), 13_578, "13 578.4 rounds down");
    assert.equal(mulDivRoundHalfUp(10_010, 500, 10_000), 501, "500.5 rounds up");
    assert.equal(mulDivRoundHalfUp(0, 500, 10_000), 0);
    // 9e15 × 3 overflows a double's integers; BigInt keeps it exact.
    assert.equal(mulDivRoundHalfUp(3_000_000_000_000_000, 3, 1_000), 9_000_000_000_000);
    assert.throws(() => mulDivRoundHalfUp(1.5, 2, 3), RangeError);
    assert.throws(() => mulDivRoundHalfUp(-1, 2, 3), RangeError);
    assert.throws(() => mulDivRoundHalfUp(1, 2, 0), RangeError);
  });
});

describe("fare", () => {
  it("charges base + distance + 5% GST in exact paise by day", () => {
    const fare = computeFare({ ...day, distanceM: 12_345 });
    assert.deepEqual(fare, {
      baseFarePaise: 25_000,
      billableDistanceM: 12_345,
      perKmPaise: 1_800,
      distanceChargePaise: 22_221, // 12.345 km × ₹18
      night: false,
      nightChargeBps: 0,
      nightChargePaise: 0,
      surgeMultiplier: 1,
      surgeChargePaise: 0,
      subtotalPaise: 47_221,
      gstRateBps: 500,
      gstPaise: 2_361, // 2 361.05
      totalPaise: 49_582,
    });
  });

  it("bills a short trip as the minimum billable distance", () => {
    const fare = computeFare({ ...day, distanceM: 1_000 });
    assert.equal(fare.billableDistanceM, 3_000);
    assert.equal(fare.distanceChargePaise, 5_400);
    assert.equal(fare.subtotalPaise, 30_400);
    assert.equal(fare.gstPaise, 1_520);
    assert.equal(fare.totalPaise, 31_920);
    assert.equal(
      computeFare({ ...day, distanceM: 3_001 }).billableDistanceM,
      3_001,
      "beyond the minimum every metre counts",
    );
  });

  it("adds night and surge on base + distance (not compounding), then GST on the sum", () => {
    const fare = computeFare({ ...day, distanceM: 12_345, night: true, surgeMultiplier: 1.25 });
    assert.equal(fare.nightChargeBps, 1000);
    assert.equal(fare.nightChargePaise, 4_722, "10% of 47 221 = 4 722.1");
    assert.equal(fare.surgeMultiplier, 1.25);
    assert.equal(fare.surgeChargePaise, 11_805, "25% of 47 221 = 11 805.25");
    assert.equal(fare.subtotalPaise, 47_221 + 4_722 + 11_805);
    assert.equal(fare.gstPaise, 3_187, "5% of 63 748 = 3 187.4");
    assert.equal(fare.totalPaise, 66_935);
  });

  it("rounds GST half up and follows the configured rate", () => {
    // subtotal 10 010: base 10 000 + 10 m at ₹1/km.
    const tariff = { baseFarePaise: 10_000, perKmPaise: 1_000, minBillableKm: 0 };
    assert.equal(computeFare({ ...day, tariff, distanceM: 10 }).gstPaise, 501, "500.5 → 501");
    assert.equal(
      computeFare({ ...day, tariff, distanceM: 10, gstRateBps: 1800 }).gstPaise,
      1_802,
      "18% of 10 010 = 1 801.8",
    );
    assert.equal(computeFare({ ...day, tariff, distanceM: 10, gstRateBps: 0 }).totalPaise, 10_010);
  });

  it("uses the surge multiplier in whole hundredths", () => {
    assert.equal(multiplierToHundredths(1.15), 115, "1.15 is 114.999… in binary");
    assert.equal(multiplierToHundredths(0.5), 100, "never a discount");
    assert.equal(multiplierToHundredths(Number.NaN), 100);
    const fare = computeFare({ ...day, distanceM: 10_000, surgeMultiplier: 1.15 });
    assert.equal(fare.surgeMultiplier, 1.15);
    assert.equal(fare.surgeChargePaise, 6_450, "15% of 43 000");
  });

  it("multiplies the per-vehicle total by the vehicle count for the order", () => {
    assert.equal(orderTotalPaise(49_582, 3), 148_746);
    assert.equal(orderTotalPaise(49_582, 1), 49_582);
  });

  it("refuses a distance that is not whole metres", () => {
    assert.throws(() => computeFare({ ...day, distanceM: 12.5 }), RangeError);
  });
});

describe("night window (India time)", () => {
  const window = { startMinute: parseClockTime("22:00"), endMinute: parseClockTime("06:00") };
  const night = (iso: string) => isNightTime(new Date(iso), window);

  it("reads clock times", () => {
    assert.equal(parseClockTime("22:00"), 1320);
    assert.equal(parseClockTime("06:30"), 390);
    assert.throws(() => parseClockTime("24:00"), RangeError);
    assert.throws(() => parseClockTime("6pm"), RangeError);
  });

  it("converts to IST (UTC+05:30)", () => {
    assert.equal(istMinuteOfDay(new Date("2026-01-15T18:30:00Z")), 0, "18:30 UTC is midnight in India");
    assert.equal(istMinuteOfDay(new Date("2026-01-15T00:00:00Z")), 330);
  });

  it("crosses midnight: 22:00 inclusive to 06:00 exclusive", () => {
    assert.equal(night("2026-01-15T16:29:59Z"), false, "21:59:59 IST");
    assert.equal(night("2026-01-15T16:30:00Z"), true, "22:00 IST");
    assert.equal(night("2026-01-15T18:29:00Z"), true, "23:59 IST");
    assert.equal(night("2026-01-15T18:30:00Z"), true, "00:00 IST, the next day");
    assert.equal(night("2026-01-16T00:29:59Z"), true, "05:59:59 IST");
    assert.equal(night("2026-01-16T00:30:00Z"), false, "06:00 IST");
    assert.equal(night("2026-01-16T06:30:00Z"), false, "noon IST");
  });

  it("handles a window within one day, and no window when start equals end", () => {
    const afternoon = { startMinute: parseClockTime("13:00"), endMinute: parseClockTime("15:00") };
    assert.equal(isNightTime(new Date("2026-01-15T07:30:00Z"), afternoon), true, "13:00 IST");
    assert.equal(isNightTime(new Date("2026-01-15T09:30:00Z"), afternoon), false, "15:00 IST");
    assert.equal(isNightTime(new Date("2026-01-15T18:30:00Z"), { startMinute: 0, endMinute: 0 }), false);
  });
});

describe("surge", () => {
  const settings = { factor: 0.5, cap: 2 };

  it("is 1 unless demand exceeds supply", () => {
    assert.equal(surgeMultiplier(0, 0, settings), 1);
    assert.equal(surgeMultiplier(5, 5, settings), 1);
    assert.equal(surgeMultiplier(3, 10, settings), 1);
  });

  it("rises with the demand/supply ratio", () => {
    assert.equal(surgeMultiplier(10, 5, settings), 1.5);
    assert.equal(surgeMultiplier(15, 10, settings), 1.25);
    assert.equal(surgeMultiplier(7, 6, settings), 1.08, "1.0833 rounded down to hundredths");
  });

  it("stops at the cap", () => {
    assert.equal(surgeMultiplier(100, 5, settings), 2);
    assert.equal(surgeMultiplier(100, 1, { factor: 0.5, cap: 1.5 }), 1.5);
    assert.equal(surgeMultiplier(1000, 1, { factor: 3, cap: 1.99 }), 1.99, "rounding never goes above the cap");
  });

  it("counts an area with nobody online as one driver", () => {
    assert.equal(surgeMultiplier(1, 0, settings), 1, "one open booking alone does not surge");
    assert.equal(surgeMultiplier(2, 0, settings), 1.5);
    assert.equal(surgeMultiplier(9, 0, settings), 2);
  });

  it("applies to pickups within the next hour only", () => {
    const now = new Date("2026-01-15T10:00:00Z");
    assert.equal(surgeApplies(now, now), true);
    assert.equal(surgeApplies(new Date("2026-01-15T11:00:00Z"), now), true);
    assert.equal(surgeApplies(new Date("2026-01-15T11:00:01Z"), now), false);
  });
});

describe("trip validation", () => {
  const bangalore = { lat: 12.9716, lng: 77.5946 };

  it("accepts points in India and names the field of a bad one", () => {
    assert.deepEqual(validateLocation(bangalore, "pickup"), bangalore);
    assert.throws(() => validateLocation(undefined, "pickup"), invalid("pickup", "LOCATION_REQUIRED"));
    assert.throws(() => validateLocation({ lat: 51.5, lng: -0.12 }, "drop"), invalid("drop", "OUTSIDE_SERVICE_AREA"));
    assert.throws(() => validateLocation({ lat: 5.9, lng: 77 }, "pickup"), invalid("pickup", "OUTSIDE_SERVICE_AREA"));
    assert.throws(() => validateLocation({ lat: 20, lng: 97.6 }, "pickup"), invalid("pickup", "OUTSIDE_SERVICE_AREA"));
    assert.throws(
      () => validateLocation({ lat: Number.NaN, lng: 77 }, "pickup"),
      invalid("pickup", "LOCATION_INVALID"),
    );
    assert.deepEqual(
      validateLocation({ lat: 37.6, lng: 68 }, "drop"),
      { lat: 37.6, lng: 68 },
      "the box's edges are inside",
    );
  });

  it("refuses pickup and drop closer than 50 m", () => {
    assert.throws(() => validateTrip(bangalore, bangalore), invalid("drop", "TRIP_TOO_SHORT"));
    assert.throws(
      () => validateTrip(bangalore, { lat: bangalore.lat + 0.0004, lng: bangalore.lng }),
      invalid("drop"),
      "≈ 44 m",
    );
    validateTrip(bangalore, { lat: bangalore.lat + 0.0005, lng: bangalore.lng }); // ≈ 56 m
  });

  it("normalizes vehicle type ids and requires one", () => {
    assert.equal(normalizeVehicleTypeId("  Mini_Truck "), "mini_truck");
    assert.throws(() => normalizeVehicleTypeId("  "), invalid("vehicle_type", "VEHICLE_TYPE_REQUIRED"));
  });

  it("allows scheduling from now (with clock skew) up to the limit ahead", () => {
    const now = new Date("2026-01-15T10:00:00Z");
    const week = 7 * 86_400_000;
    assert.equal(validateScheduledAt(undefined, now, week), undefined);
    const inAnHour = new Date(now.getTime() + 3_600_000);
    assert.equal(validateScheduledAt(inAnHour, now, week), inAnHour);
    validateScheduledAt(new Date(now.getTime() - 60_000), now, week); // a minute of clock skew is fine
    assert.throws(
      () => validateScheduledAt(new Date(now.getTime() - 3_600_000), now, week),
      invalid("scheduled_at", "SCHEDULE_IN_PAST"),
    );
    validateScheduledAt(new Date(now.getTime() + week), now, week);
    assert.throws(
      () => validateScheduledAt(new Date(now.getTime() + week + 1000), now, week),
      invalid("scheduled_at", "SCHEDULE_TOO_FAR"),
    );
  });
});

describe("distance estimate", () => {
  it("measures the great circle and applies the road factor and speed", () => {
    // Mumbai CST → Pune station: about 120 km in a straight line.
    const mumbai = { lat: 18.9398, lng: 72.8355 };
    const pune = { lat: 18.5286, lng: 73.8744 };
    const straight = haversineMeters(mumbai, pune);
    assert.ok(straight > 115_000 && straight < 125_000, `${straight}`);
    const { distanceM, durationS } = estimateRoad(mumbai, pune, { roadFactor: 1.3, averageSpeedKmph: 25 });
    assert.equal(distanceM, Math.round(straight * 1.3));
    assert.equal(durationS, Math.round(distanceM / (25_000 / 3600)));
    assert.ok(Number.isInteger(distanceM) && Number.isInteger(durationS));
  });
});
