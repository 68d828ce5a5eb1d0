import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  arrivalVerdict,
  coordinateVerdict,
  filterPoint,
  formatDistance,
  haversineM,
  pathLengthM,
  ringsEntered,
  type AcceptedPoint,
  type FilterLimits,
  type RawPoint,
} from "./tracking.rules.js";

const limits: FilterLimits = {
  maxClockSkewMs: 30_000,
  maxPointAgeMs: 3600_000,
  maxAccuracyM: 100,
  maxSpeedKmph: 150,
  jitterM: 15,
};
const NOW = Date.UTC(2026, 10, 26, 10, 0, 0);
const point = (overrides: Partial<RawPoint> = {}): RawPoint => ({
  seq: 1,
  recordedAt: NOW - 1000,
  lat: 19.076,
  lng: 72.8777,
  accuracyM: 10,
  speedMps: 8,
  heading: 90,
  ...overrides,
});
const last: AcceptedPoint = {
  seq: 0,
  recordedAt: NOW - 11_000,
  lat: 19.076,
  lng: 72.877,
  accuracyM: 5,
  speedMps: 8,
  heading: 90,
};

describe("tracking rules", () => {
  it("haversine: Mumbai to Pune is about 120 km; a path sums its legs", () => {
    const d = haversineM({ lat: 19.076, lng: 72.8777 }, { lat: 18.5204, lng: 73.8567 });
    assert.ok(d > 115_000 && d < 125_000, String(d));
    assert.equal(pathLengthM([]), 0);
    const a = { lat: 19, lng: 72 };
    const b = { lat: 19.01, lng: 72 };
    assert.ok(Math.abs(pathLengthM([a, b, a]) - 2 * haversineM(a, b)) < 1e-6);
  });

  it("accepts a good fix, the first one with no reference", () => {
    assert.equal(filterPoint(point(), undefined, NOW, limits).outcome, "accepted");
    assert.equal(filterPoint(point(), last, NOW, limits).outcome, "accepted");
  });

  it("rejects invalid coordinates and (0,0)", () => {
    assert.equal(coordinateVerdict(91, 0), "invalid");
    assert.equal(filterPoint(point({ lat: Number.NaN }), last, NOW, limits).outcome, "invalid");
    assert.equal(filterPoint(point({ lng: 181 }), last, NOW, limits).outcome, "invalid");
    assert.equal(filterPoint(point({ lat: 0, lng: 0 }), last, NOW, limits).outcome, "null_island");
    assert.equal(filterPoint(point({ recordedAt: undefined }), last, NOW, limits).outcome, "missing_time");
  });

  it("rejects readings out of range: accuracy and speed below 0, heading outside 0 to 360, and any NaN or infinity", () => {
    const outcome = (p: Partial<RawPoint>) => filterPoint(point(p), last, NOW, limits).outcome;
    assert.equal(outcome({ accuracyM: -1 }), "invalid_accuracy");
    assert.equal(outcome({ accuracyM: Number.NaN }), "invalid_accuracy");
    assert.equal(outcome({ speedMps: -0.1 }), "invalid_speed");
    assert.equal(outcome({ speedMps: Number.POSITIVE_INFINITY }), "invalid_speed");
    assert.equal(outcome({ heading: -1 }), "invalid_heading");
    assert.equal(outcome({ heading: 360.5 }), "invalid_heading");
    assert.equal(outcome({ heading: Number.NaN }), "invalid_heading");
    assert.equal(outcome({ accuracyM: 0, speedMps: 0, heading: 0 }), "accepted", "0 is 'unknown' for each of them");
    const north = filterPoint(point({ heading: 360 }), last, NOW, limits);
    assert.equal("point" in north && north.point.heading, 0, "360 is north, stored as 0");
  });

  it("clamps a fix slightly in the future, rejects one far in the future", () => {
    const clamped = filterPoint(point({ recordedAt: NOW + 10_000 }), last, NOW, limits);
    assert.equal(clamped.outcome, "accepted");
    assert.equal("point" in clamped && clamped.point.recordedAt, NOW);
    assert.equal(filterPoint(point({ recordedAt: NOW + 31_000 }), last, NOW, limits).outcome, "future");
  });

  it("rejects a fix older than the maximum age", () => {
    assert.equal(filterPoint(point({ recordedAt: NOW - 3601_000 }), undefined, NOW, limits).outcome, "too_old");
  });

  it("rejects a fix with a worse accuracy than the threshold", () => {
    assert.equal(filterPoint(point({ accuracyM: 101 }), last, NOW, limits).outcome, "inaccurate");
    assert.equal(filterPoint(point({ accuracyM: 100 }), last, NOW, limits).outcome, "accepted");
  });

  it("rejects an impossible jump from the last accepted fix", () => {
    // 10 s after the reference, 1 km away: 360 km/h.
    assert.equal(filterPoint(point({ lat: 19.076 + 0.009 }), last, NOW, limits).outcome, "impossible_jump");
    // 10 s, 300 m: 108 km/h is possible.
    assert.equal(filterPoint(point({ lat: 19.076 + 0.0027 }), last, NOW, limits).outcome, "accepted");
  });

  it("treats a tiny move while stopped as jitter, but not while moving", () => {
    const near = { lat: last.lat + 0.00005, lng: last.lng }; // about 5.5 m
    assert.equal(filterPoint(point({ ...near, speedMps: 0 }), last, NOW, limits).outcome, "jitter");
    assert.equal(filterPoint(point({ ...near, speedMps: 5 }), last, NOW, limits).outcome, "accepted");
  });
});

describe("trip rules", () => {
  const stop = { lat: 19.076, lng: 72.8777 };
  const at = (seq: number, northM: number): AcceptedPoint => ({
    seq,
    recordedAt: NOW,
    lat: stop.lat + northM / 111_195,
    lng: stop.lng,
    accuracyM: 5,
    speedMps: 8,
    heading: 180,
  });
  const radii = { arrivingM: 500, arrivedM: 100 };

  it("rings: each entered once, by the first point inside, arriving before arrived", () => {
    assert.deepEqual(ringsEntered(stop, [at(1, 900), at(2, 700)], { arriving: false, arrived: false }, radii), []);
    const entered = ringsEntered(
      stop,
      [at(1, 900), at(2, 450), at(3, 300), at(4, 50), at(5, 10)],
      { arriving: false, arrived: false },
      radii,
    );
    assert.deepEqual(
      entered.map((e) => [e.ring, e.point.seq]),
      [
        ["arriving", 2],
        ["arrived", 4],
      ],
    );
    assert.ok(Math.abs(entered[0]!.distanceM - 450) < 1);
    // Straight into the inner ring: both, arriving first.
    assert.deepEqual(
      ringsEntered(stop, [at(1, 20)], { arriving: false, arrived: false }, radii).map((e) => e.ring),
      ["arriving", "arrived"],
    );
    // Already fired: nothing again.
    assert.deepEqual(ringsEntered(stop, [at(1, 20)], { arriving: true, arrived: true }, radii), []);
    assert.deepEqual(
      ringsEntered(stop, [at(1, 20)], { arriving: true, arrived: false }, radii).map((e) => e.ring),
      ["arrived"],
    );
  });

  it("arrival: refused far away, without a position, with a stale one; allowed inside the radius", () => {
    const limitsA = { arrivedM: 100, maxAgeMs: 120_000 };
    const near = { ...at(1, 60), lastSeenAt: NOW - 5000 };
    assert.deepEqual(arrivalVerdict("pickup", near, stop, NOW, limitsA), {
      arrived: true,
      distanceM: haversineM(near, stop),
    });
    const refusal = (verdict: ReturnType<typeof arrivalVerdict>) => (verdict.arrived ? undefined : verdict);
    const far = refusal(arrivalVerdict("pickup", { ...at(1, 2300), lastSeenAt: NOW - 5000 }, stop, NOW, limitsA));
    assert.equal(far?.reason, "NOT_AT_STOP");
    assert.equal(far?.message, "driver is 2.3 km from the pickup; arrive within 100 m");
    assert.equal(
      refusal(arrivalVerdict("drop", { ...at(1, 640), lastSeenAt: NOW }, stop, NOW, limitsA))?.message,
      "driver is 640 m from the drop; arrive within 100 m",
    );
    assert.equal(refusal(arrivalVerdict("pickup", undefined, stop, NOW, limitsA))?.reason, "DRIVER_POSITION_UNKNOWN");
    assert.equal(
      refusal(arrivalVerdict("pickup", { ...at(1, 10), lastSeenAt: NOW - 600_000 }, stop, NOW, limitsA))?.reason,
      "DRIVER_POSITION_STALE",
    );
    assert.equal(formatDistance(42_400), "42 km");
  });
});
