import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { chunks, DEFAULT_FLEET_INTERVAL_MS, dueForSend, fleetWatchOf, inBox, isShown } from "./fleet.rules.js";

describe("fleet stream rules", () => {
  const box = { south: 18, west: 72, north: 19, east: 73 };

  it("checks the box's edges and defaults the interval", () => {
    assert.deepEqual(fleetWatchOf({ ...box, minIntervalMs: 0 }), { box, minIntervalMs: DEFAULT_FLEET_INTERVAL_MS });
    assert.equal(fleetWatchOf({ ...box, minIntervalMs: 500 }).minIntervalMs, 500);
    assert.throws(() => fleetWatchOf({ ...box, north: 17, minIntervalMs: 0 }), /north must not be south/);
    assert.throws(() => fleetWatchOf({ ...box, east: 71, minIntervalMs: 0 }), /antimeridian/);
    assert.throws(() => fleetWatchOf({ ...box, south: Number.NaN, minIntervalMs: 0 }), /south/);
  });

  it("keeps points on the edges inside the box", () => {
    assert.equal(inBox(box, 18, 72), true);
    assert.equal(inBox(box, 19, 73), true);
    assert.equal(inBox(box, 18.5, 73.0001), false);
    assert.equal(inBox(box, 17.9999, 72.5), false);
  });

  it("shows drivers online, with a position, heard within the window and not dark", () => {
    const driver = { online: true, hasPosition: true, lastSeenAt: 1000, dark: false };
    assert.equal(isShown(driver, 61_000, 60_000), true);
    assert.equal(isShown(driver, 61_001, 60_000), false, "silent too long");
    assert.equal(isShown({ ...driver, online: false }, 1000, 60_000), false);
    assert.equal(isShown({ ...driver, hasPosition: false }, 1000, 60_000), false);
    assert.equal(isShown({ ...driver, dark: true }, 1000, 60_000), false);
  });

  it("sends a driver again only after the interval", () => {
    assert.equal(dueForSend(undefined, 0, 1000), true, "never sent on this stream");
    assert.equal(dueForSend(5000, 5999, 1000), false);
    assert.equal(dueForSend(5000, 6000, 1000), true);
  });

  it("splits a snapshot into messages, always at least one", () => {
    assert.deepEqual(chunks([], 2), [[]]);
    assert.deepEqual(chunks([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
  });
});
