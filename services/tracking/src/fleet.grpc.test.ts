import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { v7 as uuidv7 } from "uuid";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import { DriverAvailabilityChanged } from "@weelo/contracts/grpc/weelo/fleet/v1/events";
import {
  TrackingInternalServiceService,
  type FleetPosition,
  type WatchFleetPositionsRequest,
  type WatchFleetPositionsResponse,
} from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import { createMeshClient, type ServiceClient } from "@weelo/grpc";
import { sleep, until as waitUntil } from "@weelo/testing";
import { pointAt, startTestTracking, type TestTracking } from "./test-support.js";

/** Generous: the suite shares a loaded machine (load 5-15). */
const WAIT_MS = 20_000;
const until = (what: string, condition: () => boolean | Promise<boolean>, timeoutMs = WAIT_MS) =>
  waitUntil(what, condition, timeoutMs);

type OpsClient = ServiceClient<typeof TrackingInternalServiceService>;

/** A box of about 11 km around (lat, lng). */
const boxAround = (lat: number, lng: number) => ({
  south: lat - 0.05,
  north: lat + 0.05,
  west: lng - 0.05,
  east: lng + 0.05,
});

let availabilitySequence = 1;

describe("the ops console's fleet stream (WatchFleetPositions) over gRPC", () => {
  let t: TestTracking;
  let ops: OpsClient;
  before(async () => {
    t = await startTestTracking({ env: { FLEET_BATCH_MS: "100", FLEET_WATCH_STALL_MS: "4000" } });
    ops = createMeshClient(TrackingInternalServiceService, t.meshAddress, {
      deadlineMs: 5000,
      mesh: t.platform.mesh,
      caller: "ops",
    });
  });
  after(async () => {
    ops?.close();
    await t?.stop();
  });

  /** Fleet's availability event, on the bus as fleet publishes it: every replica applies it. */
  async function setOnline(driverId: string, online: boolean, transporterId = "tr-1") {
    const event = DriverAvailabilityChanged.encode(
      DriverAvailabilityChanged.fromPartial({
        driverId,
        transporterId,
        vehicleId: `v-${driverId.slice(-6)}`,
        vehicleType: "open_17ft",
        online,
        occurredAt: new Date(),
      }),
    ).finish();
    const envelope = EventEnvelope.encode({
      id: uuidv7(),
      type: "fleet.driver.availability",
      subjectId: driverId,
      sequence: availabilitySequence++,
      occurredAt: new Date(),
      payload: { typeUrl: "type.googleapis.com/weelo.fleet.v1.DriverAvailabilityChanged", value: Buffer.from(event) },
      requestId: "",
    }).finish();
    t.platform.bus.publish(`${t.config.FLEET_SUBJECT_ROOT}.driver.availability`, envelope);
    await until(
      `availability of ${driverId} applied`,
      async () => (await t.tracking.store.get(driverId))?.availability?.online === online,
    );
  }

  /** An online driver streaming to `on` (this replica by default), with a first point at (lat, lng) recorded at `since`. */
  async function onlineDriver(lat: number, lng: number, { on = t, since = new Date() } = {}) {
    const driver = await t.driver();
    await setOnline(driver.id, true);
    const stream = on.stream(driver.token);
    let seq = 0;
    const send = async (atLat: number, atLng: number, recordedAt = new Date()) => {
      seq += 1;
      stream.send([pointAt(seq, atLat, atLng, { recordedAt })]);
      await stream.waitForAck(seq, WAIT_MS);
    };
    await send(lat, lng, since);
    return { id: driver.id, stream, send };
  }

  /** Reads a fleet stream in the background, keeping every batch. */
  function watch(
    request: Partial<WatchFleetPositionsRequest> & { south: number; north: number; west: number; east: number },
    client = ops,
  ) {
    const controller = new AbortController();
    const batches: { at: number; batch: WatchFleetPositionsResponse }[] = [];
    const done = (async () => {
      for await (const batch of client.watchFleetPositions(
        { minIntervalMs: 0, ...request },
        { signal: controller.signal },
      ))
        batches.push({ at: Date.now(), batch });
    })().catch((error: unknown) => error);
    return {
      batches,
      /** The console's map: drivers shown now, by id. */
      view() {
        const shown = new Map<string, FleetPosition>();
        for (const { batch } of batches) {
          if (batch.snapshot) shown.clear();
          for (const p of batch.positions) shown.set(p.driverId, p);
          for (const id of batch.goneDriverIds) shown.delete(id);
        }
        return shown;
      },
      /** The driver's positions in change batches (a snapshot, also a resync's, starts the console over). */
      movesOf: (driverId: string) =>
        batches.flatMap(({ at, batch }) =>
          batch.snapshot ? [] : batch.positions.filter((p) => p.driverId === driverId).map((p) => ({ at, p })),
        ),
      stop: () => controller.abort(),
      done,
    };
  }

  it("refuses a box whose edges are out of order", async () => {
    const w = watch({ south: 10, north: 9, west: 70, east: 71 });
    const error = (await w.done) as { code?: number } | undefined;
    assert.equal(error?.code, 3, "INVALID_ARGUMENT");
  });

  it("starts with a snapshot of the online drivers in the box only", async () => {
    const [lat, lng] = [21.1, 75.1];
    const inside1 = await onlineDriver(lat, lng);
    const inside2 = await onlineDriver(lat + 0.01, lng - 0.01);
    const outside = await onlineDriver(lat + 0.2, lng);
    const offline = await onlineDriver(lat, lng + 0.01);
    await setOnline(offline.id, false);
    const w = watch(boxAround(lat, lng));
    await until("the first batch", () => w.batches.length > 0);
    const first = w.batches[0]!.batch;
    assert.equal(first.snapshot, true);
    assert.deepEqual(first.positions.map((p) => p.driverId).sort(), [inside1.id, inside2.id].sort());
    const p = first.positions.find((x) => x.driverId === inside1.id)!;
    assert.equal(p.vehicleType, "open_17ft");
    assert.equal(p.transporterId, "tr-1");
    assert.ok(Math.abs(p.position!.lat - lat) < 1e-9);
    assert.equal(p.bookingId, "");
    assert.equal(w.view().has(outside.id), false);
    w.stop();
  });

  it("thins a 10 Hz driver to at most one position a second, the latest always arriving", async () => {
    const [lat, lng] = [22.1, 76.1];
    const w = watch(boxAround(lat, lng));
    await until("the snapshot", () => w.batches.length > 0);
    const t0 = Date.now() - 60_000;
    const driver = await onlineDriver(lat, lng, { since: new Date(t0) });
    const started = Date.now();
    let last = lat;
    // 30 points, 100 ms apart on the wire, recorded a second apart (20 m each: a plausible speed).
    for (let i = 1; i <= 30; i++) {
      last = lat + i * 0.00018;
      await driver.send(last, lng, new Date(t0 + i * 1000));
      await sleep(100);
    }
    await until("the last point arrives", () => Math.abs((w.view().get(driver.id)?.position?.lat ?? 0) - last) < 1e-9);
    const elapsedS = (Date.now() - started) / 1000;
    const received = w.movesOf(driver.id).length;
    assert.ok(received >= 2, `received ${received}`);
    assert.ok(received <= Math.ceil(elapsedS) + 1, `received ${received} positions in ${elapsedS.toFixed(1)} s`);
    w.stop();
  });

  it("lists a driver that went offline or left the box as gone", async () => {
    const [lat, lng] = [23.1, 77.1];
    const leaving = await onlineDriver(lat, lng, { since: new Date(Date.now() - 15 * 60_000) });
    const goingOffline = await onlineDriver(lat + 0.001, lng);
    const w = watch(boxAround(lat, lng));
    await until("both on the map", () => w.view().has(leaving.id) && w.view().has(goingOffline.id));
    await setOnline(goingOffline.id, false);
    await until("the offline driver is gone", () =>
      w.batches.some(({ batch }) => batch.goneDriverIds.includes(goingOffline.id)),
    );
    // 0.1° north in one go is 11 km: recorded 15 minutes after the last point, a plausible trip.
    await leaving.send(lat + 0.1, lng, new Date(Date.now()));
    await until("the leaving driver is gone", () =>
      w.batches.some(({ batch }) => batch.goneDriverIds.includes(leaving.id)),
    );
    assert.deepEqual([...w.view().keys()], []);
    w.stop();
  });

  it("resynchronises a console that stops reading instead of holding its changes", async () => {
    const [lat, lng] = [24.1, 78.1];
    const since = new Date(Date.now() - 300_000);
    const drivers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => onlineDriver(lat + i * 0.001, lng, { since })),
    );
    // A tiny HTTP/2 window: the server's writes block after a few batches once the console stops reading.
    const slow = createMeshClient(TrackingInternalServiceService, t.meshAddress, {
      deadlineMs: 5000,
      mesh: t.platform.mesh,
      caller: "ops",
      channelOptions: { "grpc-node.flow_control_window": 1024 },
    });
    const controller = new AbortController();
    const iterator = slow
      .watchFleetPositions({ ...boxAround(lat, lng), minIntervalMs: 250 }, { signal: controller.signal })
      [Symbol.asyncIterator]();
    try {
      const first = await iterator.next();
      assert.equal(first.value?.snapshot, true);
      assert.equal(first.value?.positions.length, 20);
      const resyncsBefore = t.tracking.fleet.stats().resyncs;
      let maxPending = 0;
      let round = 0;
      const t0 = Date.now() - 250_000;
      while (t.tracking.fleet.stats().resyncs === resyncsBefore) {
        round += 1;
        assert.ok(round < 200, "the stalled console was never resynchronised");
        // Each driver moves 22 m north and back, a second apart: a change every round, and
        // everyone stays in the box however many rounds the stall takes to show.
        await Promise.all(
          drivers.map((d, i) => d.send(lat + i * 0.001 + (round % 2) * 0.0002, lng, new Date(t0 + round * 1000))),
        );
        for (const w of t.tracking.fleet.stats().watchers) maxPending = Math.max(maxPending, w.pending);
        await sleep(100);
      }
      assert.ok(maxPending <= drivers.length, `at most one change per driver waits (saw ${maxPending})`);
      // Reading again: whatever was in flight, then a fresh snapshot of the whole box.
      let snapshot: WatchFleetPositionsResponse | undefined;
      for (let i = 0; i < 500 && !snapshot; i++) {
        const next = await iterator.next();
        if (next.value?.snapshot) snapshot = next.value;
      }
      assert.equal(snapshot?.positions.length, 20);
    } finally {
      controller.abort();
      await iterator.return?.();
      slow.close();
    }
  });

  it("carries a point ingested on one replica to a console watching another", async () => {
    const replica = await t.replica();
    const onReplica = createMeshClient(TrackingInternalServiceService, replica.meshAddress, {
      deadlineMs: 5000,
      mesh: replica.platform.mesh,
      caller: "ops",
    });
    try {
      const [lat, lng] = [25.1, 79.1];
      const w = watch(boxAround(lat, lng), onReplica);
      await until("the snapshot", () => w.batches.length > 0);
      await until("replica A hears of replica B's console", () => t.tracking.fleet.interested);
      const driver = await onlineDriver(lat, lng, { since: new Date(Date.now() - 60_000) }); // streams to replica A
      await until("the point reaches the console on replica B", () => w.view().has(driver.id));
      await driver.send(lat + 0.001, lng);
      await until("the move too", () => Math.abs((w.view().get(driver.id)?.position?.lat ?? 0) - (lat + 0.001)) < 1e-9);
      w.stop();
    } finally {
      onReplica.close();
    }
  });

  it("names a driver's booking while on a trip", async () => {
    const [lat, lng] = [26.1, 80.1];
    const driver = await onlineDriver(lat, lng);
    const w = watch(boxAround(lat, lng));
    await until("on the map", () => w.view().has(driver.id));
    const trip = await t.startTrip(driver.id);
    await until("the booking id", () => w.view().get(driver.id)?.bookingId === trip.bookingId);
    w.stop();
  });
});

describe("GetBookingPath over gRPC", () => {
  let t: TestTracking;
  let ops: OpsClient;
  before(async () => {
    t = await startTestTracking();
    ops = createMeshClient(TrackingInternalServiceService, t.meshAddress, {
      deadlineMs: 5000,
      mesh: t.platform.mesh,
      caller: "ops",
    });
  });
  after(async () => {
    ops?.close();
    await t?.stop();
  });

  it("returns any trip's breadcrumb, and nothing for a booking without one", async () => {
    const driver = await t.driver();
    const trip = await t.startTrip(driver.id);
    const stream = t.stream(driver.token);
    const t0 = Date.now() - 60_000;
    stream.send(
      [1, 2, 3].map((seq) => pointAt(seq, 19 + seq * 0.001, 72.8, { recordedAt: new Date(t0 + seq * 10_000) })),
    );
    await stream.waitForAck(3);
    const path = await ops.getBookingPath({ bookingId: trip.bookingId });
    assert.deepEqual(
      path.points.map((p) => p.seq),
      [1, 2, 3],
    );
    assert.ok(path.distanceM > 200 && path.distanceM < 250, `${path.distanceM} m`);
    assert.deepEqual(await ops.getBookingPath({ bookingId: uuidv7() }), { points: [], distanceM: 0 });
    await assert.rejects(ops.getBookingPath({ bookingId: "nope" }), (e: { code?: number }) => e.code === 3);
  });
});
