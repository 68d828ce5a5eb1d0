import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TruckState } from "@weelo/contracts/grpc/weelo/ops/v1/ops";
import type { WatchFleetResponse } from "@weelo/contracts/grpc/weelo/ops/v1/ops_service";
import type {
  FleetPosition,
  WatchFleetPositionsRequest,
  WatchFleetPositionsResponse,
} from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import { watchFleet, type FleetWatchDeps } from "./watch-fleet.js";

const at = (driverId: string, lat: number, transporterId = "t1"): FleetPosition => ({
  driverId,
  transporterId,
  vehicleId: "v",
  vehicleType: "open_17ft",
  position: { lat, lng: 72 },
  heading: 0,
  recordedAt: new Date(0),
  bookingId: "",
});

/** Tracking's side of the stream, fed by the test: a queue the fake upstream yields from until aborted. */
function fakeTracking() {
  const queue: WatchFleetPositionsResponse[] = [];
  let wake: (() => void) | undefined;
  const requests: WatchFleetPositionsRequest[] = [];
  return {
    requests,
    push(batch: WatchFleetPositionsResponse) {
      queue.push(batch);
      wake?.();
    },
    async *watch(request: WatchFleetPositionsRequest, signal: AbortSignal) {
      requests.push(request);
      signal.addEventListener("abort", () => wake?.(), { once: true });
      while (!signal.aborted) {
        const next = queue.shift();
        if (next) yield next;
        else await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
}

async function take(iterator: AsyncIterator<WatchFleetResponse>): Promise<WatchFleetResponse> {
  const next = await iterator.next();
  assert.equal(next.done, false);
  return next.value;
}

describe("watchFleet", () => {
  it("asks tracking for the box at one position a second, colours offered trucks, and keeps the last offers when dispatch fails", async () => {
    const tracking = fakeTracking();
    let offered: string[] | Error = ["t1"];
    let calls = 0;
    const warnings: string[] = [];
    const deps: FleetWatchDeps = {
      watchFleetPositions: (request, signal) => tracking.watch(request, signal),
      listOfferedTransporters: async () => {
        calls += 1;
        if (offered instanceof Error) throw offered;
        return offered;
      },
      logger: { warn: (_o, message) => void warnings.push(message) },
      offeredRefreshMs: 30,
    };
    const controller = new AbortController();
    const iterator = watchFleet(deps, { south: 18, west: 71, north: 20, east: 73 }, controller.signal)[
      Symbol.asyncIterator
    ]();
    tracking.push({ positions: [at("d1", 19, "t1"), at("d2", 19, "t2")], goneDriverIds: [], snapshot: true });
    const first = await take(iterator);
    assert.deepEqual(tracking.requests, [{ south: 18, west: 71, north: 20, east: 73, minIntervalMs: 1000 }]);
    assert.equal(first.snapshot, true);
    assert.ok(first.sentAt instanceof Date);
    assert.deepEqual(
      first.moves.map((m) => [m.handle, m.state]),
      [
        [1, TruckState.TRUCK_STATE_OFFERED],
        [2, TruckState.TRUCK_STATE_FREE],
      ],
    );

    // Dispatch fails for a while: the colours stay, one warning, the stream goes on.
    offered = new Error("dispatch unavailable");
    const callsBefore = calls;
    const reading = take(iterator);
    while (calls < callsBefore + 3) await new Promise((resolve) => setTimeout(resolve, 10));
    tracking.push({ positions: [at("d1", 19.001, "t1")], goneDriverIds: ["d2"], snapshot: false });
    const moved = await reading;
    assert.deepEqual(moved.gone, [2]);
    assert.deepEqual(
      moved.moves.map((m) => [m.handle, m.state, m.latE5]),
      [[1, TruckState.TRUCK_STATE_OFFERED, 1_900_100]],
    );
    assert.equal(warnings.length, 1, "logged once while it keeps failing");

    // Dispatch answers again without t1: d1 turns free without moving.
    offered = [];
    const recoloured = await take(iterator);
    assert.deepEqual(
      recoloured.moves.map((m) => [m.handle, m.state]),
      [[1, TruckState.TRUCK_STATE_FREE]],
    );

    // A resynchronisation from tracking: new handles, snapshot set.
    tracking.push({ positions: [at("d1", 19.001, "t1")], goneDriverIds: [], snapshot: true });
    const resync = await take(iterator);
    assert.equal(resync.snapshot, true);
    assert.deepEqual(
      resync.trucks.map((t) => t.handle),
      [3],
    );

    controller.abort();
    assert.equal((await iterator.next()).done, true, "the stream ends with the call");
  });
});
