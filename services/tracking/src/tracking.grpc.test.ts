import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { v7 as uuidv7 } from "uuid";
import { Redis } from "ioredis";
import { PointRejection } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking";
import { sleep, until } from "@weelo/testing";
import { failure } from "@weelo/testing";
import { pointAt, startTestTracking, type TestTracking } from "./test-support.js";

const BASE = { lat: 19.076, lng: 72.8777 };
/** About 100 m north per step: 10 m/s with points 10 s apart. */
const path = (from: number, to: number, t0 = Date.now() - 600_000) =>
  Array.from({ length: to - from + 1 }, (_, i) => {
    const seq = from + i;
    return pointAt(seq, BASE.lat + seq * 0.0009, BASE.lng, { recordedAt: new Date(t0 + seq * 10_000) });
  });

async function metricValue(t: TestTracking, outcome: string): Promise<number> {
  const metric = await t.platform.metrics.registry.getSingleMetric("weelo_tracking_points_total")!.get();
  return metric.values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
}

describe("tracking over gRPC", () => {
  let clock = 0;
  let t: TestTracking;
  before(async () => {
    t = await startTestTracking({ now: () => Date.now() + clock, env: { STREAM_MAX_PENDING_COMMANDS: "8" } });
  });
  after(async () => {
    await t?.stop();
  });

  /** A trip started the way production starts one: booking's events (created, confirmed, assigned) on its stream. */
  const trip = (driverId: string) => t.startTrip(driverId);

  it("acks cumulatively, ignores duplicates and old points, and counts rejections", async () => {
    const driver = await t.driver();
    const stream = t.stream(driver.token);
    stream.send(path(1, 3));
    await stream.waitForAck(3);
    const duplicatesBefore = await metricValue(t, "duplicate");
    const nullBefore = await metricValue(t, "null_island");
    stream.send([...path(2, 3), ...path(4, 5)]); // 2 and 3 again
    await stream.waitForAck(5);
    stream.send([pointAt(6, 0, 0)]); // rejected, still acked
    await stream.waitForAck(6);
    const last = stream.responses.filter((r) => r.kind?.$case === "ack").at(-1)!;
    assert.equal(last.kind?.$case === "ack" && last.kind.value.rejected, 1);
    assert.deepEqual(
      last.kind?.$case === "ack" && last.kind.value.rejections,
      [{ seq: 6, reason: PointRejection.POINT_REJECTION_NULL_ISLAND }],
      "the ack says which point and why",
    );
    assert.equal((await metricValue(t, "duplicate")) - duplicatesBefore, 2);
    assert.equal((await metricValue(t, "null_island")) - nullBefore, 1);
    const stored = await t.tracking.store.get(driver.id);
    assert.equal(stored?.lastSeq, 6);
    assert.equal(stored?.position?.seq, 5);
    stream.close();
  });

  it("a standing driver's next point restores the position a store lost (Redis restarted without its keys)", async () => {
    const driver = await t.driver();
    const stream = t.stream(driver.token);
    stream.send(path(1, 3));
    await stream.waitForAck(3);
    const before = await t.tracking.store.get(driver.id);
    assert.equal(before?.position?.seq, 3);
    const store = t.tracking.store;
    if (store.kind === "redis") {
      const redis = new Redis(process.env.REDIS_URL!);
      const keys = await redis.keys(`*tracking:d:${driver.id}`);
      assert.equal(keys.length, 1, "the driver's hash");
      await redis.del(...keys);
      await redis.quit();
    } else {
      (store as unknown as { drivers: Map<string, unknown> }).drivers.delete(driver.id);
    }
    assert.equal((await t.tracking.store.get(driver.id))?.position, undefined, "lost");
    // Standing still: the same place, speed 0 (jitter, not a new accepted point).
    const { lat, lng } = before!.position!;
    stream.send([pointAt(4, lat, lng, { speedMps: 0 })]);
    await stream.waitForAck(4);
    const after = await t.tracking.store.get(driver.id);
    assert.equal(after?.lastSeq, 4);
    assert.equal(after?.position?.seq, 3, "the last accepted position is stored again");
    assert.equal(after?.position?.lat, lat);
    stream.close();
  });

  it("a reconnect re-sending unacked points loses nothing and doubles nothing", async () => {
    const driver = await t.driver();
    const { bookingId, customer } = await trip(driver.id);
    const first = t.stream(driver.token);
    first.send(path(1, 10));
    await first.waitForAck(10);
    first.send(path(11, 20));
    first.close(); // gone before (some of) the acks of 11..20 arrived
    const second = t.stream(driver.token);
    // The app re-sends everything after the last ack it saw (some of it the server already has).
    second.send(path(first.acked + 1, 25));
    await second.waitForAck(25);
    const tripPath = await t.client.getTripPath({ bookingId }, customer);
    assert.deepEqual(
      tripPath.points.map((p) => p.seq),
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
    assert.ok(tripPath.distanceM > 24 * 99 && tripPath.distanceM < 24 * 101, String(tripPath.distanceM));
    second.close();
  });

  it("a second stream of the same driver replaces the first", async () => {
    const driver = await t.driver();
    const first = t.stream(driver.token);
    first.send(path(1, 1));
    await first.waitForAck(1);
    const second = t.stream(driver.token);
    second.send(path(2, 2));
    await second.waitForAck(2);
    const status = await first.waitForEnd();
    assert.equal(status.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(
      t.tracking.commands.send(driver.id, {
        kind: { $case: "statusPrompt", value: { bookingId: uuidv7(), nextStatus: "AT_PICKUP", message: "Arrived?" } },
      }),
      "queued",
    );
    await until("the command on the new stream", () => second.responses.some((r) => r.kind?.$case === "command"));
    second.close();
  });

  it("WatchLocation sends the last position then each update; GetLocation; only the booking's customer and transporter", async () => {
    const driver = await t.driver();
    const { bookingId, customer, transporter } = await trip(driver.id);
    const stream = t.stream(driver.token);
    stream.send(path(1, 2));
    await stream.waitForAck(2);
    const location = await t.client.getLocation({ bookingId }, transporter);
    assert.equal(location.position?.seq, 2);

    const controller = new AbortController();
    const seen: number[] = [];
    const watching = (async () => {
      for await (const update of t.client.watchLocation({ bookingId }, { ...customer, signal: controller.signal }))
        seen.push(update.position!.seq);
    })().catch(() => undefined);
    await until("the last known position", () => seen.length >= 1);
    stream.send(path(3, 4));
    await until("two updates", () => seen.includes(4));
    assert.deepEqual(seen, [2, 3, 4]);
    controller.abort();
    await watching;

    const stranger = t.as(await t.token("customer"));
    assert.equal((await failure(t.client.getLocation({ bookingId }, stranger))).code, grpc.status.NOT_FOUND);
    assert.equal((await failure(t.client.getTripPath({ bookingId }, stranger))).code, grpc.status.NOT_FOUND);
    const watchError = await failure(
      (async () => {
        for await (const _ of t.client.watchLocation({ bookingId }, stranger)) break;
      })(),
    );
    assert.equal(watchError.code, grpc.status.NOT_FOUND);
    assert.equal(
      (await failure(t.client.getLocation({ bookingId }, t.as(driver.token)))).code,
      grpc.status.PERMISSION_DENIED,
    );
    stream.close();
  });

  it("UpdateLocation takes a batch with the same rules", async () => {
    const driver = await t.driver();
    const answer = await t.client.updateLocation(
      { points: [...path(1, 3), pointAt(4, 19.1, 72.9, { accuracyM: 500 })] },
      t.as(driver.token),
    );
    assert.deepEqual(answer, {
      ackedSeq: 4,
      rejected: 1,
      rejections: [{ seq: 4, reason: PointRejection.POINT_REJECTION_INACCURATE }],
    });
    assert.deepEqual(await t.client.updateLocation({ points: path(2, 3) }, t.as(driver.token)), {
      ackedSeq: 4,
      rejected: 0,
      rejections: [],
    });
    assert.equal(
      (await failure(t.client.updateLocation({ points: [] }, t.as(await t.token("customer"))))).code,
      grpc.status.PERMISSION_DENIED,
    );
  });

  it("FindNearbyDrivers: radius, vehicle type, online, not on a trip, fresh, nearest first", async () => {
    const type = `t${uuidv7().slice(-8).replace(/-/g, "")}`;
    const center = { lat: 12.9716, lng: 77.5946 };
    const place = async (northM: number, vehicleType = type, online = true) => {
      const driver = await t.driver();
      await t.tracking.availability.apply(driver.id, {
        online,
        vehicleType,
        vehicleId: uuidv7(),
        transporterId: uuidv7(),
      });
      await t.client.updateLocation(
        { points: [pointAt(1, center.lat + northM / 111_195, center.lng)] },
        t.as(driver.token),
      );
      return driver.id;
    };
    const near = await place(500);
    const mid = await place(3000);
    await place(9000); // outside 5 km
    await place(100, "other_type");
    await place(200, type, false); // offline
    const busy = await place(300);
    await trip(busy);
    const found = await t.internal.findNearbyDrivers({
      center,
      radiusM: 5000,
      vehicleType: type,
      limit: 10,
      onePerTransporter: false,
    });
    assert.deepEqual(
      found.drivers.map((d) => d.driverId),
      [near, mid],
    );
    assert.ok(Math.abs(found.drivers[0]!.distanceM - 500) < 5);
    const one = await t.internal.findNearbyDrivers({
      center,
      radiusM: 50_000,
      vehicleType: type,
      limit: 1,
      onePerTransporter: false,
    });
    assert.deepEqual(
      one.drivers.map((d) => d.driverId),
      [near],
    );
    assert.equal(
      (
        await failure(
          t.internal.findNearbyDrivers({
            center,
            radiusM: 50_001,
            vehicleType: type,
            limit: 1,
            onePerTransporter: false,
          }),
        )
      ).code,
      grpc.status.INVALID_ARGUMENT,
    );
    clock = 61_000; // everyone is stale now
    try {
      assert.deepEqual(
        (
          await t.internal.findNearbyDrivers({
            center,
            radiusM: 5000,
            vehicleType: type,
            limit: 10,
            onePerTransporter: false,
          })
        ).drivers,
        [],
      );
    } finally {
      clock = 0;
    }
  });

  it("FindNearbyDrivers one per transporter: each transporter's nearest driver, the limit counting transporters", async () => {
    const type = `t${uuidv7().slice(-8).replace(/-/g, "")}`;
    const center = { lat: 13.0827, lng: 80.2707 };
    const [fleetA, fleetB, fleetC] = [uuidv7(), uuidv7(), uuidv7()];
    const place = async (northM: number, transporterId: string) => {
      const driver = await t.driver();
      await t.tracking.availability.apply(driver.id, {
        online: true,
        vehicleType: type,
        vehicleId: uuidv7(),
        transporterId,
      });
      await t.client.updateLocation(
        { points: [pointAt(1, center.lat + northM / 111_195, center.lng)] },
        t.as(driver.token),
      );
      return driver.id;
    };
    const a1 = await place(400, fleetA);
    await place(700, fleetA);
    await place(900, fleetA);
    const b1 = await place(1200, fleetB);
    await place(1500, fleetB);
    const c1 = await place(2500, fleetC);
    const all = await t.internal.findNearbyDrivers({
      center,
      radiusM: 5000,
      vehicleType: type,
      limit: 10,
      onePerTransporter: false,
    });
    assert.equal(all.drivers.length, 6, "without the option every driver counts");
    const one = await t.internal.findNearbyDrivers({
      center,
      radiusM: 5000,
      vehicleType: type,
      limit: 10,
      onePerTransporter: true,
    });
    assert.deepEqual(
      one.drivers.map((d) => d.driverId),
      [a1, b1, c1],
    );
    assert.deepEqual(
      one.drivers.map((d) => d.transporterId),
      [fleetA, fleetB, fleetC],
    );
    const two = await t.internal.findNearbyDrivers({
      center,
      radiusM: 5000,
      vehicleType: type,
      limit: 2,
      onePerTransporter: true,
    });
    assert.deepEqual(
      two.drivers.map((d) => d.transporterId),
      [fleetA, fleetB],
      "the two nearest transporters, not the fleet with the most drivers",
    );
  });

  it("a stream that does not read its commands is ended with RESOURCE_EXHAUSTED, and its queue stays bounded", async () => {
    const driver = await t.driver();
    const stream = t.stream(driver.token);
    stream.send(path(1, 1));
    await stream.waitForAck(1);
    stream.call.pause(); // the app stops reading
    const message = "x".repeat(2000);
    let outcome = "queued";
    let sent = 0;
    while (outcome !== "overflow" && sent < 10_000) {
      outcome = t.tracking.commands.send(driver.id, {
        kind: { $case: "statusPrompt", value: { bookingId: uuidv7(), nextStatus: "AT_PICKUP", message } },
      });
      sent += 1;
      assert.ok((t.tracking.streams.get(driver.id)?.pendingCommands ?? 0) <= 8);
      if (sent % 8 === 0) await sleep(5);
    }
    assert.equal(outcome, "overflow");
    assert.equal(t.tracking.commands.connectedHere(driver.id), false);
    stream.call.resume();
    const status = await stream.waitForEnd();
    assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED);
  });
});

describe("tracking across a restart", () => {
  it("every acked point of a trip is in GetTripPath after a graceful shutdown", async () => {
    const t = await startTestTracking({ env: { BREADCRUMB_FLUSH_MS: "2000", BREADCRUMB_BATCH_SIZE: "5000" } });
    try {
      const driver = await t.driver();
      const { bookingId, customerId } = await t.startTrip(driver.id);
      const stream = t.stream(driver.token);
      stream.send(path(1, 30));
      await stream.waitForAck(30, 8000);
      stream.send(path(31, 40)); // probably not acked yet: a slow flush
      await sleep(50);
      const acked = stream.acked;
      await t.restart();
      // The trip survives the restart (the trips table), with no booking event replayed.
      assert.equal(t.tracking.trips.activeOf(driver.id)?.bookingId, bookingId);
      const customer = t.as(await t.token("customer", customerId));
      const seqs = (await t.client.getTripPath({ bookingId }, customer)).points.map((p) => p.seq);
      for (let seq = 1; seq <= acked; seq++) assert.ok(seqs.includes(seq), `acked point ${seq} is missing`);
      assert.equal(new Set(seqs).size, seqs.length);
      // The app re-sends what was not acked: nothing doubles.
      const again = t.stream(driver.token);
      again.send(path(acked + 1, 40));
      await again.waitForAck(40, 8000);
      const after = (await t.client.getTripPath({ bookingId }, customer)).points.map((p) => p.seq);
      assert.deepEqual(
        after,
        Array.from({ length: 40 }, (_, i) => i + 1),
      );
    } finally {
      await t.stop();
    }
  });
});
