/**
 * The map's truck state from WatchFleet batches (handles per stream, snapshots, moves, gone,
 * the glide between positions) and the stream's keeper (debounced reopening for a new box,
 * reconnecting with jittered backoff), run in Node on the same code the page runs.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { until } from "@weelo/testing";
import { TruckState } from "@weelo/contracts/es/weelo/ops/v1/ops_pb";
import { type WatchFleetResponse, WatchFleetResponseSchema } from "@weelo/contracts/es/weelo/ops/v1/ops_service_pb";
import { FleetState, GLIDE_MS } from "./fleet-state.js";
import { backoffMs } from "@weelo/client";
import { type Bounds, clampBounds, FleetStream, MAX_SIDE_DEG } from "./fleet-stream.js";

const truck = (handle: number, driverId = `driver-${handle}`) => ({
  handle,
  driverId,
  transporterId: "transporter-1",
  vehicleId: `vehicle-${handle}`,
  vehicleType: "lcv_14ft",
});
const move = (handle: number, lat: number, lng: number, state = TruckState.FREE, bookingId = "") => ({
  handle,
  latE5: Math.round(lat * 1e5),
  lngE5: Math.round(lng * 1e5),
  heading: 90,
  state,
  bookingId,
});
const batch = (init: MessageInitShape<typeof WatchFleetResponseSchema>) => create(WatchFleetResponseSchema, init);

describe("FleetState", () => {
  it("introduces trucks, places them on their first move and counts them by state", () => {
    const fleet = new FleetState();
    fleet.apply(
      batch({
        snapshot: true,
        trucks: [truck(1), truck(2), truck(3), truck(4)],
        moves: [
          move(1, 18.52, 73.86),
          move(2, 18.53, 73.87, TruckState.OFFERED),
          move(3, 18.54, 73.88, TruckState.ON_TRIP, "booking-9"),
        ],
      }),
      1000,
    );
    assert.equal(fleet.size, 4);
    assert.deepEqual(fleet.counts(), { free: 1, offered: 1, onTrip: 1, unplaced: 1 });
    assert.equal(fleet.get(3)?.bookingId, "booking-9");
    assert.equal(fleet.get(1)?.lat, 18.52);
    assert.equal(fleet.byDriver("driver-2")?.handle, 2);
    // A first position is drawn at once, not glided from nowhere.
    assert.deepEqual(fleet.positionAt(fleet.get(1)!, 1000), [18.52, 73.86]);
  });

  it("glides a truck to its new position over about a second, and jumps a long way at once", () => {
    const fleet = new FleetState();
    fleet.apply(batch({ snapshot: true, trucks: [truck(1)], moves: [move(1, 18.5, 73.8)] }), 0);
    fleet.apply(batch({ moves: [move(1, 18.501, 73.802)] }), 10_000);
    const [midLat, midLng] = fleet.positionAt(fleet.get(1)!, 10_000 + GLIDE_MS / 2);
    assert.ok(Math.abs(midLat - 18.5005) < 1e-9, `half way in latitude: ${midLat}`);
    assert.ok(Math.abs(midLng - 73.801) < 1e-9, `half way in longitude: ${midLng}`);
    assert.ok(fleet.gliding(10_000 + GLIDE_MS / 2));
    assert.deepEqual(fleet.positionAt(fleet.get(1)!, 10_000 + GLIDE_MS), [18.501, 73.802]);
    assert.ok(!fleet.gliding(10_000 + GLIDE_MS));
    // 11 km north: no glide across the city.
    fleet.apply(batch({ moves: [move(1, 18.6, 73.802)] }), 20_000);
    assert.deepEqual(fleet.positionAt(fleet.get(1)!, 20_001), [18.6, 73.802]);
  });

  it("keeps a trip's booking while the truck stays on it, and drops it when the truck is free again", () => {
    const fleet = new FleetState();
    fleet.apply(
      batch({ snapshot: true, trucks: [truck(1)], moves: [move(1, 18.5, 73.8, TruckState.ON_TRIP, "booking-1")] }),
      0,
    );
    fleet.apply(batch({ moves: [move(1, 18.5001, 73.8, TruckState.ON_TRIP)] }), 1000);
    assert.equal(fleet.get(1)?.bookingId, "booking-1", "sent only when it changed");
    fleet.apply(batch({ moves: [move(1, 18.5002, 73.8, TruckState.FREE)] }), 2000);
    assert.equal(fleet.get(1)?.bookingId, "");
  });

  it("forgets trucks that are gone and every truck on a snapshot; counts moves of unknown handles", () => {
    const fleet = new FleetState();
    fleet.apply(
      batch({ snapshot: true, trucks: [truck(1), truck(2)], moves: [move(1, 18.5, 73.8), move(2, 18.6, 73.9)] }),
      0,
    );
    fleet.apply(batch({ gone: [1] }), 1000);
    assert.deepEqual(
      [...fleet.values()].map((t) => t.handle),
      [2],
    );
    fleet.apply(batch({ moves: [move(7, 18.5, 73.8)] }), 2000);
    assert.equal(fleet.unknownHandles, 1);
    // A new stream numbers its trucks afresh: handle 2 is another truck now.
    fleet.apply(batch({ snapshot: true, trucks: [truck(2, "driver-x")], moves: [move(2, 18.4, 73.7)] }), 3000);
    assert.equal(fleet.size, 1);
    assert.equal(fleet.get(2)?.driverId, "driver-x");
    assert.equal(fleet.batches, 4);
  });
});

describe("FleetStream", () => {
  it("waits the SDK's backoff between reopenings: doubling, capped, jittered within its upper half", () => {
    // FleetStream calls backoffMs(failures, 500, 15_000, random): the one backoff of every Weelo client.
    assert.equal(
      backoffMs(0, 500, 15_000, () => 0.5),
      375,
    );
    assert.equal(
      backoffMs(3, 500, 15_000, () => 0.5),
      3000,
    );
    assert.equal(
      backoffMs(10, 500, 15_000, () => 0),
      7500,
    );
    assert.equal(
      backoffMs(10, 500, 15_000, () => 0.999_999),
      15_000,
    );
  });

  it("clamps the box to the earth and to the server's largest side", () => {
    const box = clampBounds({ south: -95, west: 60, north: 40, east: 90 });
    assert.ok(box.north - box.south <= MAX_SIDE_DEG && box.east - box.west <= MAX_SIDE_DEG);
    assert.deepEqual(clampBounds({ south: 18.4, west: 73.7, north: 18.6, east: 74 }), {
      south: 18.4,
      west: 73.7,
      north: 18.6,
      east: 74,
    });
  });

  it("opens once for the first box, once more after the map stops moving, and reconnects after a break", async () => {
    const opened: Bounds[] = [];
    const received: WatchFleetResponse[] = [];
    const statuses: string[] = [];
    const waits: number[] = [];
    let failNext = false;
    const stream = new FleetStream({
      debounceMs: 30,
      backoffMs: 20,
      random: () => 0.5,
      async *open(bounds, signal) {
        opened.push(bounds);
        if (failNext) {
          failNext = false;
          throw new Error("unavailable");
        }
        yield batch({ snapshot: true });
        await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      },
      onBatch: (b) => received.push(b),
      onStatus: (s) => {
        statuses.push(s.kind);
        if (s.kind === "retrying") waits.push(s.inMs);
      },
    });
    const box = (n: number) => ({ south: 18 + n / 100, west: 73, north: 18.5, east: 74 });
    stream.watch(box(0));
    await until("the first box to open", () => opened.length === 1, 5000);
    // The map pans: three boxes in quick succession make one reopening, for the last box.
    stream.watch(box(1));
    stream.watch(box(2));
    stream.watch(box(3));
    await until("the stream to reopen", () => opened.length >= 2, 5000);
    await sleep(100);
    assert.equal(opened.length, 2, "one reopening for the three boxes");
    assert.equal(opened[1]!.south, 18.03);
    // A break: the next opening fails, then it opens again after the backoff.
    failNext = true;
    stream.watch(box(4));
    await until("a failed opening, then another", () => opened.length >= 4 && received.length >= 3, 5000);
    assert.equal(opened.length, 4);
    assert.ok(statuses.includes("retrying"));
    assert.deepEqual(waits, [backoffMs(0, 20, 15_000, () => 0.5)], "the SDK's backoff, from the stream's own settings");
    assert.equal(received.length, 3);
    stream.stop();
    await sleep(50);
    assert.equal(opened.length, 4, "nothing opens after stop");
    assert.equal(statuses.at(-1), "stopped");
  });
});
