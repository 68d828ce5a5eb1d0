/**
 * The position store's pieces that need no server: the per-driver cell memo agrees with H3
 * everywhere it answers from memory, and a nearby search of one per transporter keeps each
 * transporter's nearest driver.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { latLngToCell } from "h3-js";
import { DriverCells, MemoryPositionStore } from "./position-store.js";

/** A deterministic random walk: the same points every run. */
function walk(seed: number, steps: number, stepM: number, from: { lat: number; lng: number }) {
  let s = seed;
  const random = () => {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31;
    return s / 2 ** 31;
  };
  const points: { lat: number; lng: number }[] = [];
  let { lat, lng } = from;
  for (let i = 0; i < steps; i++) {
    lat += ((random() - 0.5) * 2 * stepM) / 111_320;
    lng += ((random() - 0.5) * 2 * stepM) / (111_320 * Math.cos((lat * Math.PI) / 180));
    points.push({ lat, lng });
  }
  return points;
}

describe("position store", () => {
  it("a driver's cell from memory is always H3's cell, at several resolutions, near the equator and far north", () => {
    for (const resolution of [7, 9]) {
      for (const [i, from] of [
        { lat: 18.52, lng: 73.85 },
        { lat: 0.5, lng: 32.5 },
        { lat: 64.1, lng: -21.9 },
      ].entries()) {
        const cells = new DriverCells(resolution);
        let changes = 0;
        let last = "";
        for (const point of walk(7 + i, 20_000, resolution === 7 ? 150 : 20, from)) {
          const expected = latLngToCell(point.lat, point.lng, resolution);
          assert.equal(cells.cellOf("driver", point.lat, point.lng), expected);
          if (expected !== last) changes++;
          last = expected;
        }
        assert.ok(changes > 10, `the walk crossed cells (${changes} changes at resolution ${resolution})`);
      }
    }
  });

  it("one per transporter: each transporter's nearest driver, nearest first, the limit counting transporters", async () => {
    const store = new MemoryPositionStore(7);
    const center = { lat: 18.52, lng: 73.85 };
    const place = async (driverId: string, transporterId: string, northM: number) => {
      await store.setAvailability(driverId, {
        online: true,
        vehicleType: "lcv",
        vehicleId: `v-${driverId}`,
        transporterId,
      });
      await store.record(driverId, {
        lastSeq: 1,
        lastSeenAt: 1000,
        position: {
          seq: 1,
          recordedAt: 1000,
          lat: center.lat + northM / 111_195,
          lng: center.lng,
          accuracyM: 5,
          speedMps: 0,
          heading: 0,
        },
      });
    };
    await place("a-far", "A", 2500);
    await place("a-near", "A", 300);
    await place("b", "B", 900);
    await place("c", "C", 1800);
    await place("c-off", "C", 100);
    await store.setAvailability("c-off", { online: false, vehicleType: "lcv", vehicleId: "v", transporterId: "C" });
    const query = { ...center, radiusM: 5000, vehicleType: "lcv", seenSince: 0 };
    const one = await store.nearby({ ...query, limit: 10, onePerTransporter: true });
    assert.deepEqual(
      one.map((d) => [d.transporterId, d.driverId]),
      [
        ["A", "a-near"],
        ["B", "b"],
        ["C", "c"],
      ],
    );
    assert.deepEqual(
      (await store.nearby({ ...query, limit: 2, onePerTransporter: true })).map((d) => d.transporterId),
      ["A", "B"],
    );
    assert.deepEqual(
      (await store.nearby({ ...query, limit: 10 })).map((d) => d.driverId),
      ["a-near", "b", "c", "a-far"],
    );
    // A driver who moves is found where they are now.
    await store.record("a-far", {
      lastSeq: 2,
      lastSeenAt: 2000,
      position: { seq: 2, recordedAt: 2000, lat: center.lat, lng: center.lng, accuracyM: 5, speedMps: 0, heading: 0 },
    });
    const moved = await store.nearby({ ...query, limit: 1 });
    assert.equal(moved[0]!.driverId, "a-far");
    assert.ok(moved[0]!.distanceM < 1);
    assert.equal(moved[0]!.lastSeenAt, 2000);
  });
});
