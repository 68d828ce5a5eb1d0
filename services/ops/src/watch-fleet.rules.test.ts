import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TruckState } from "@weelo/contracts/grpc/weelo/ops/v1/ops";
import type {
  FleetPosition,
  WatchFleetPositionsResponse,
} from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import { FleetHandles, isWorthSending, toE5, truckState, wholeHeading } from "./watch-fleet.rules.js";

const at = (driverId: string, lat: number, lng: number, extra: Partial<FleetPosition> = {}): FleetPosition => ({
  driverId,
  transporterId: `t-${driverId}`,
  vehicleId: `v-${driverId}`,
  vehicleType: "open_17ft",
  position: { lat, lng },
  heading: 90,
  recordedAt: new Date(0),
  bookingId: "",
  ...extra,
});
const batch = (positions: FleetPosition[], gone: string[] = [], snapshot = false): WatchFleetPositionsResponse => ({
  positions,
  goneDriverIds: gone,
  snapshot,
});
const none = new Set<string>();

describe("fleet map rules", () => {
  it("colours a truck: on a trip, else offered when its transporter holds an offer, else free", () => {
    assert.equal(truckState("b1", "t1", new Set(["t1"])), TruckState.TRUCK_STATE_ON_TRIP);
    assert.equal(truckState("", "t1", new Set(["t1"])), TruckState.TRUCK_STATE_OFFERED);
    assert.equal(truckState("", "t2", new Set(["t1"])), TruckState.TRUCK_STATE_FREE);
  });

  it("rounds positions to 1e-5 degrees and headings to whole degrees 0–359", () => {
    assert.equal(toE5(19.0760049), 1_907_600);
    assert.equal(toE5(-72.877751), -7_287_775);
    assert.deepEqual([0, 45.4, 359.6, 360, -10, Number.NaN].map(wholeHeading), [0, 45, 0, 0, 350, 0]);
  });

  it("introduces a truck once, then moves it by handle, dropping repeats", () => {
    const handles = new FleetHandles();
    const first = handles.apply(batch([at("d1", 19, 72), at("d2", 19.1, 72.1)], [], true), none);
    assert.equal(first.snapshot, true);
    assert.deepEqual(
      first.trucks.map((t) => [t.handle, t.driverId, t.transporterId, t.vehicleId, t.vehicleType]),
      [
        [1, "d1", "t-d1", "v-d1", "open_17ft"],
        [2, "d2", "t-d2", "v-d2", "open_17ft"],
      ],
    );
    assert.deepEqual(first.moves[0], {
      handle: 1,
      latE5: 1_900_000,
      lngE5: 7_200_000,
      heading: 90,
      state: TruckState.TRUCK_STATE_FREE,
      bookingId: "",
    });
    const second = handles.apply(batch([at("d1", 19.00001, 72), at("d2", 19.1, 72.1)]), none);
    assert.deepEqual(second.trucks, [], "no second introduction");
    assert.deepEqual(
      second.moves.map((m) => [m.handle, m.latE5]),
      [[1, 1_900_001]],
      "d2 did not move: nothing sent",
    );
    assert.equal(isWorthSending(handles.apply(batch([at("d2", 19.1, 72.1)]), none)), false);
  });

  it("sends the booking id only when it changes", () => {
    const handles = new FleetHandles();
    handles.apply(batch([at("d1", 19, 72)], [], true), none);
    const onTrip = handles.apply(batch([at("d1", 19.001, 72, { bookingId: "b1" })]), none);
    assert.equal(onTrip.moves[0]?.bookingId, "b1");
    assert.equal(onTrip.moves[0]?.state, TruckState.TRUCK_STATE_ON_TRIP);
    const moving = handles.apply(batch([at("d1", 19.002, 72, { bookingId: "b1" })]), none);
    assert.equal(moving.moves[0]?.bookingId, "", "unchanged: left out");
    const ended = handles.apply(batch([at("d1", 19.002, 72)]), none);
    assert.equal(ended.moves[0]?.state, TruckState.TRUCK_STATE_FREE);
  });

  it("turns gone drivers into their handles and never reuses a handle, even after a snapshot", () => {
    const handles = new FleetHandles();
    handles.apply(batch([at("d1", 19, 72), at("d2", 19, 72)], [], true), none);
    const gone = handles.apply(batch([], ["d1", "unknown"]), none);
    assert.deepEqual(gone.gone, [1]);
    const back = handles.apply(batch([at("d1", 19, 72)]), none);
    assert.equal(back.trucks[0]?.handle, 3);
    const resync = handles.apply(batch([at("d2", 19, 72), at("d1", 19, 72)], [], true), none);
    assert.equal(resync.snapshot, true);
    assert.deepEqual(
      resync.trucks.map((t) => t.handle),
      [4, 5],
    );
    assert.equal(handles.size, 2);
  });

  it("recolours free and offered trucks when the offered transporters change", () => {
    const handles = new FleetHandles();
    handles.apply(batch([at("d1", 19, 72), at("d2", 19, 72), at("d3", 19, 72, { bookingId: "b" })], [], true), none);
    const offered = handles.restate(new Set(["t-d1", "t-d3"]));
    assert.deepEqual(
      offered.map((m) => [m.handle, m.state, m.latE5]),
      [[1, TruckState.TRUCK_STATE_OFFERED, 1_900_000]],
    );
    assert.deepEqual(handles.restate(new Set(["t-d1", "t-d3"])), [], "nothing changed");
    assert.deepEqual(
      handles.restate(none).map((m) => [m.handle, m.state]),
      [[1, TruckState.TRUCK_STATE_FREE]],
    );
  });
});
