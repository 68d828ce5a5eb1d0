import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { coordinateVerdict, isOnEarth } from "./coordinates.js";

describe("coordinates", () => {
  it("takes finite points within ±90° latitude and ±180° longitude, edges included", () => {
    assert.ok(isOnEarth(18.52, 73.85));
    assert.ok(isOnEarth(-90, 180));
    assert.ok(isOnEarth(90, -180));
    for (const [lat, lng] of [
      [90.000001, 0],
      [0, -180.5],
      [Number.NaN, 73],
      [18, Number.POSITIVE_INFINITY],
    ] as const) {
      assert.equal(isOnEarth(lat, lng), false, `${lat}, ${lng}`);
    }
  });

  it("tells a broken GPS's (0, 0) apart from a point off the earth", () => {
    assert.equal(coordinateVerdict(18.52, 73.85), "ok");
    assert.equal(coordinateVerdict(0, 0), "null_island");
    assert.equal(coordinateVerdict(0.0000001, -0.0000001), "null_island");
    assert.equal(coordinateVerdict(91, 0), "invalid");
  });
});
