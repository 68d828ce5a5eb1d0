/**
 * Trips as production feeds them (booking's events on its JetStream stream), and what
 * tracking raises from them: geofence events once per trip stop, the arrival check booking
 * asks before AT_PICKUP / AT_DROPOFF, driver_dark once per silence with two replicas, trips
 * ending on COMPLETED / CANCELLED / reopened, a driver's half-close, the drain at shutdown,
 * and a slow WatchLocation reader's bounded queue.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { v7 as uuidv7 } from "uuid";
import { BookingStatus } from "@weelo/contracts/grpc/weelo/booking/v1/booking";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import {
  DriverWentDark,
  GeofenceEntered,
  GeofenceKind,
  TripStop,
} from "@weelo/contracts/grpc/weelo/tracking/v1/events";
import type { Consumer } from "@weelo/bus";
import { failure, until } from "@weelo/testing";
import { pointAt, startTestTracking, type TestTracking } from "./test-support.js";

const PICKUP = { lat: 18.5204, lng: 73.8567 };
const DROP = { lat: 18.5912, lng: 73.7389 };
const M_PER_DEG_LAT = 111_195;
/** A point `northM` metres north of a stop, recorded at t0 + seq minutes (a truck at walking pace, never an impossible jump). */
const near = (stop: { lat: number; lng: number }, seq: number, northM: number, t0: number) =>
  pointAt(seq, stop.lat + northM / M_PER_DEG_LAT, stop.lng, { recordedAt: new Date(t0 + seq * 60_000), speedMps: 5 });

interface SeenEvent {
  subject: string;
  bookingId: string;
  sequence: number;
  geofence?: GeofenceEntered;
  dark?: DriverWentDark;
}

/** Collects tracking's durable events (a consumer of its own on the TRACKING stream). */
async function collectEvents(t: TestTracking): Promise<{ seen: SeenEvent[]; consumer: Consumer }> {
  const seen: SeenEvent[] = [];
  const consumer = await t.platform.bus.consume({
    stream: t.config.TRACKING_STREAM,
    durable: `test-${uuidv7().slice(-12)}`,
    handler: (msg) => {
      const envelope = EventEnvelope.decode(msg.data);
      const value = envelope.payload!.value;
      const event: SeenEvent = {
        subject: msg.subject,
        bookingId: envelope.subjectId,
        sequence: Number(envelope.sequence),
      };
      if (msg.subject.endsWith(".driver_dark")) event.dark = DriverWentDark.decode(value);
      else event.geofence = GeofenceEntered.decode(value);
      seen.push(event);
    },
  });
  return { seen, consumer };
}

describe("trips from booking's events", () => {
  let clock = 0;
  let t: TestTracking;
  let events: { seen: SeenEvent[]; consumer: Consumer };
  before(async () => {
    t = await startTestTracking({
      now: () => Date.now() + clock,
      env: { DRIVER_DARK_AFTER_S: "30", DRIVER_DARK_CHECK_S: "1" },
    });
    events = await collectEvents(t);
  });
  after(async () => {
    await events?.consumer.stop();
    await t?.stop();
  });

  it("geofences fire once per trip stop and ring, in order, durably; CheckArrival follows the last position", async () => {
    const driver = await t.driver();
    const trip = await t.startTrip(driver.id, { pickup: PICKUP, drop: DROP });
    const ofTrip = () => events.seen.filter((e) => e.bookingId === trip.bookingId);
    const t0 = Date.now() - 3 * 3600_000;
    const stream = t.stream(driver.token);

    // Before arriving: booking's AT_PICKUP would be refused with how far the driver is.
    stream.send([near(PICKUP, 1, 2300, t0)]);
    await stream.waitForAck(1);
    const far = await failure(
      t.internal.checkArrival({
        bookingId: trip.bookingId,
        driverId: driver.id,
        stop: TripStop.TRIP_STOP_PICKUP,
        stopLocation: undefined,
      }),
    );
    assert.equal(far.code, grpc.status.FAILED_PRECONDITION);
    assert.match(far.message, /^driver is 2\.3 km from the pickup; arrive within 100 m$/);

    stream.send([near(PICKUP, 2, 900, t0), near(PICKUP, 3, 450, t0), near(PICKUP, 4, 300, t0)]);
    stream.send([near(PICKUP, 5, 60, t0), near(PICKUP, 6, 20, t0)]);
    stream.send([near(PICKUP, 7, 480, t0), near(PICKUP, 8, 30, t0)]); // out and back in: nothing new
    await stream.waitForAck(8);
    await until("the pickup events", () => ofTrip().length >= 2);
    const arrival = await t.internal.checkArrival({
      bookingId: trip.bookingId,
      driverId: driver.id,
      stop: TripStop.TRIP_STOP_PICKUP,
      stopLocation: undefined,
    });
    assert.ok(arrival.distanceM < 100 && arrival.radiusM === 100, JSON.stringify(arrival));

    await t.advance(trip, BookingStatus.BOOKING_STATUS_AT_PICKUP);
    await t.advance(trip, BookingStatus.BOOKING_STATUS_IN_TRANSIT);
    // The drop is about 14.5 km away: drive there (1 km a minute is 60 km/h).
    const legs = Array.from({ length: 16 }, (_, i) => {
      const f = (i + 1) / 16;
      return pointAt(9 + i, PICKUP.lat + (DROP.lat - PICKUP.lat) * f, PICKUP.lng + (DROP.lng - PICKUP.lng) * f, {
        recordedAt: new Date(t0 + (9 + i) * 60_000),
        speedMps: 16,
      });
    });
    stream.send(legs);
    await stream.waitForAck(24);
    await until("the drop events", () => ofTrip().length >= 4);

    const fired = ofTrip().map((e) => [
      e.subject.slice(e.subject.indexOf(".") + 1),
      e.geofence!.stop,
      e.geofence!.kind,
    ]);
    assert.deepEqual(fired, [
      ["geofence.arriving", TripStop.TRIP_STOP_PICKUP, GeofenceKind.GEOFENCE_KIND_ARRIVING],
      ["geofence.arrived", TripStop.TRIP_STOP_PICKUP, GeofenceKind.GEOFENCE_KIND_ARRIVED],
      ["geofence.arriving", TripStop.TRIP_STOP_DROP, GeofenceKind.GEOFENCE_KIND_ARRIVING],
      ["geofence.arrived", TripStop.TRIP_STOP_DROP, GeofenceKind.GEOFENCE_KIND_ARRIVED],
    ]);
    const first = ofTrip()[0]!.geofence!;
    assert.equal(first.driverId, driver.id);
    assert.equal(first.customerId, trip.customerId);
    assert.equal(first.transporterId, trip.transporterId);
    assert.ok(Math.abs(first.distanceM - 450) < 2, String(first.distanceM));
    assert.equal(first.occurredAt?.getTime(), t0 + 3 * 60_000, "the time of the point inside the ring");
    assert.deepEqual(
      ofTrip().map((e) => e.sequence),
      [1, 2, 3, 4],
      "the booking's tracking events are numbered",
    );
    // The core location subject is not captured by the durable stream.
    assert.ok(events.seen.every((e) => /\.(geofence\.arriv(ing|ed)|driver_dark)$/.test(e.subject)));

    // Without a position, and with a stop tracking does not know: clear refusals.
    const stranger = await t.driver();
    const unknown = await failure(
      t.internal.checkArrival({
        bookingId: uuidv7(),
        driverId: stranger.id,
        stop: TripStop.TRIP_STOP_DROP,
        stopLocation: DROP,
      }),
    );
    assert.equal(unknown.code, grpc.status.FAILED_PRECONDITION);
    assert.match(unknown.message, /position is unknown/);
    assert.equal(
      (
        await failure(
          t.internal.checkArrival({
            bookingId: uuidv7(),
            driverId: stranger.id,
            stop: TripStop.TRIP_STOP_DROP,
            stopLocation: undefined,
          }),
        )
      ).code,
      grpc.status.INVALID_ARGUMENT,
    );
    assert.equal(
      (
        await failure(
          t.internal.checkArrival({
            bookingId: trip.bookingId,
            driverId: driver.id,
            stop: TripStop.TRIP_STOP_UNSPECIFIED,
            stopLocation: undefined,
          }),
        )
      ).code,
      grpc.status.INVALID_ARGUMENT,
    );
    stream.close();
  });

  it("an applied ASSIGNED tells the driver its trip on the stream, once, with the stops and their cities; a driver connecting later hears it then", async () => {
    const driver = await t.driver();
    const stream = t.stream(driver.token);
    stream.send([pointAt(1, 18.52, 73.85)]);
    await stream.waitForAck(1);
    const trip = await t.startTrip(driver.id, { pickup: PICKUP, drop: DROP });
    const assignments = () =>
      stream.responses.flatMap((r) =>
        r.kind?.$case === "command" && r.kind.value.kind?.$case === "assignment" ? [r.kind.value.kind.value] : [],
      );
    await until("the assignment on the driver's stream", () => assignments().length === 1);
    assert.deepEqual(assignments()[0], {
      bookingId: trip.bookingId,
      vehicleId: trip.vehicleId,
      pickup: PICKUP,
      drop: DROP,
      pickupAddress: "Mumbai",
      dropAddress: "Pune",
    });
    // The same ASSIGNED again (a redelivery: same sequence, new message), then the next status.
    trip.sequence -= 1;
    await t.advance(trip, BookingStatus.BOOKING_STATUS_ASSIGNED);
    await t.advance(trip, BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE);
    stream.send([pointAt(2, 18.5201, 73.85)]);
    await stream.waitForAck(2);
    assert.equal(assignments().length, 1, "a redelivered ASSIGNED tells nobody again");
    stream.close();

    // A driver assigned while offline (or whose command was lost) hears of the trip on connecting.
    const offline = await t.driver();
    const later = await t.startTrip(offline.id, { pickup: PICKUP, drop: DROP });
    const again = t.stream(offline.token);
    await until("the trip on the new stream", () => again.responses.some((r) => r.kind?.$case === "command"));
    const first = again.responses.find((r) => r.kind?.$case === "command");
    assert.deepEqual(first?.kind?.$case === "command" && first.kind.value.kind, {
      $case: "assignment",
      value: {
        bookingId: later.bookingId,
        vehicleId: later.vehicleId,
        pickup: PICKUP,
        drop: DROP,
        pickupAddress: "Mumbai",
        dropAddress: "Pune",
      },
    });
    again.close();
  });

  it("COMPLETED, CANCELLED and reopened end the trip: the driver is off the trip (offered again) and told on the stream, the customer still reads the path", async () => {
    for (const [to, subject] of [
      [BookingStatus.BOOKING_STATUS_COMPLETED, "status_changed"],
      [BookingStatus.BOOKING_STATUS_CANCELLED, "cancelled"],
      [BookingStatus.BOOKING_STATUS_PENDING, "reopened"],
    ] as const) {
      const driver = await t.driver();
      const trip = await t.startTrip(driver.id);
      const stream = t.stream(driver.token);
      stream.send([pointAt(1, 18.52, 73.85)]);
      await stream.waitForAck(1);
      assert.equal(t.tracking.trips.activeOf(driver.id)?.bookingId, trip.bookingId);
      assert.equal((await t.tracking.store.get(driver.id))?.onTrip, true);
      await t.advance(trip, to, { subject });
      await until(`the trip ended by ${subject}`, () => t.tracking.trips.activeOf(driver.id) === undefined);
      assert.equal((await t.tracking.store.get(driver.id))?.onTrip, false);
      // Its customer still reads the (ended) trip's path, with the point acked during the trip.
      assert.deepEqual(
        (await t.client.getTripPath({ bookingId: trip.bookingId }, trip.customer)).points.map((p) => p.seq),
        [1],
      );
      // A cancelled or reopened trip is taken away from the driver, who hears it at once; a completed one is theirs to close.
      const told = () =>
        stream.responses
          .flatMap((r) => (r.kind?.$case === "command" ? [r.kind.value] : []))
          .filter((c) => c.kind?.$case === "cancelled" || c.kind?.$case === "reopened");
      if (subject === "status_changed") {
        stream.send([pointAt(2, 18.5201, 73.85)]);
        await stream.waitForAck(2);
        assert.deepEqual(told(), []);
      } else {
        await until(`the ${subject} command on the driver's stream`, () => told().length === 1);
        const command = told()[0]!;
        assert.equal(command.kind?.$case, subject);
        assert.equal(command.kind?.value.bookingId, trip.bookingId);
      }
      stream.close();
    }
  });

  it("a trip taken away while the driver's stream is down is told when it opens again, under the live command's id, before the trip they are on", async () => {
    const commandsOn = (stream: ReturnType<TestTracking["stream"]>) =>
      stream.responses.flatMap((r) => (r.kind?.$case === "command" ? [r.kind.value] : []));
    const driver = await t.driver();
    const first = await t.startTrip(driver.id);
    const online = t.stream(driver.token);
    online.send([pointAt(1, 18.52, 73.85)]);
    await online.waitForAck(1);
    online.close();
    await until("the stream gone from the server", () => !t.tracking.commands.connectedHere(driver.id));

    // Offline: the customer cancels, then the transporter gives the driver another trip.
    const cancelId = await t.advance(first, BookingStatus.BOOKING_STATUS_CANCELLED, {
      subject: "cancelled",
      reason: "Customer changed plans",
    });
    await until("the trip ended", () => t.tracking.trips.activeOf(driver.id) === undefined);
    const second = await t.startTrip(driver.id);

    const told = {
      commandId: cancelId,
      kind: { $case: "cancelled", value: { bookingId: first.bookingId, reason: "Customer changed plans" } },
    };
    const assignmentIds = new Set<string>();
    for (const attempt of ["first open", "next open"]) {
      const back = t.stream(driver.token);
      await until(`two commands on the ${attempt}`, () => commandsOn(back).length >= 2);
      const [gone, assigned] = commandsOn(back);
      // The old trip first, so the app drops it before it takes the new one; each under the same
      // id every time, so an app that heard it already ignores the repeat.
      assert.deepEqual({ commandId: gone!.commandId, kind: gone!.kind }, told, attempt);
      assert.equal(assigned!.kind?.$case === "assignment" && assigned!.kind.value.bookingId, second.bookingId);
      assignmentIds.add(assigned!.commandId);
      back.close();
      await until("the stream gone", () => !t.tracking.commands.connectedHere(driver.id));
      // A redelivered cancellation changes nothing, its reason included.
      first.sequence -= 1;
      await t.advance(first, BookingStatus.BOOKING_STATUS_CANCELLED, { subject: "cancelled", reason: "redelivered" });
    }

    assert.equal(assignmentIds.size, 1, "the trip is repeated under one id");

    // Taken away (reopened) and given back to the same driver: only the trip is told, not its
    // reopening, under a new id (the app dropped the trip when it was reopened).
    await t.advance(second, BookingStatus.BOOKING_STATUS_PENDING, { subject: "reopened" });
    await until("the reopened trip left the driver", () => t.tracking.trips.activeOf(driver.id) === undefined);
    await t.advance(second, BookingStatus.BOOKING_STATUS_ASSIGNED);
    const onIt = t.stream(driver.token);
    await until("the assignment", () => commandsOn(onIt).length >= 1);
    onIt.send([pointAt(2, 18.5201, 73.85)]);
    await onIt.waitForAck(2);
    // The live command can reach the new stream too (it is sent just after the directory takes
    // the trip): the same command under the same id, which the app ignores.
    const heard = new Set(
      commandsOn(onIt).map((c) => `${c.kind?.$case === "assignment" && c.kind.value.bookingId} ${c.commandId}`),
    );
    assert.equal(heard.size, 1, [...heard].join(", "));
    const [bookingId, commandId] = [...heard][0]!.split(" ");
    assert.equal(bookingId, second.bookingId);
    assert.ok(!assignmentIds.has(commandId!), "a trip given back is a new assignment");
    onIt.close();
    await t.advance(second, BookingStatus.BOOKING_STATUS_COMPLETED); // leaves no silent trip to the driver_dark sweeps below
  });

  it("the driver's last notice is the latest trip taken away, whatever order the events are applied in", async () => {
    const driver = await t.driver();
    const older = await t.startTrip(driver.id);
    const newer = await t.startTrip(driver.id);
    const later = new Date(Date.now() - 60_000);
    // The later cancellation is applied first (two bookings' events are not ordered between them).
    const newerId = await t.advance(newer, BookingStatus.BOOKING_STATUS_CANCELLED, {
      subject: "cancelled",
      reason: "later",
      occurredAt: later,
    });
    await t.advance(older, BookingStatus.BOOKING_STATUS_CANCELLED, {
      subject: "cancelled",
      reason: "earlier",
      occurredAt: new Date(Date.now() - 120_000),
    });
    const stream = t.stream(driver.token);
    await until("the notice", () => stream.responses.some((r) => r.kind?.$case === "command"));
    stream.send([pointAt(1, 18.52, 73.85)]);
    await stream.waitForAck(1);
    const commands = stream.responses.flatMap((r) => (r.kind?.$case === "command" ? [r.kind.value] : []));
    assert.deepEqual(
      commands.map((c) => [c.commandId, c.kind?.$case === "cancelled" && c.kind.value.reason, c.issuedAt?.getTime()]),
      [[newerId, "later", later.getTime()]],
    );
    stream.close();
  });

  it("driver_dark: once per silence with two replicas, and again after the driver came back and went silent again", async () => {
    const second = await t.replica();
    const driver = await t.driver();
    const trip = await t.startTrip(driver.id);
    await until(
      "the second replica knows the trip",
      () => second.tracking.trips.activeOf(driver.id)?.bookingId === trip.bookingId,
    );
    const darkOfTrip = () => events.seen.filter((e) => e.bookingId === trip.bookingId && e.dark);
    await t.client.updateLocation({ points: [pointAt(1, PICKUP.lat, PICKUP.lng)] }, t.as(driver.token));

    clock += 31_000; // silent past DRIVER_DARK_AFTER_S (30 s)
    // Both replicas look at once (besides their timers): one event.
    await Promise.all([t.tracking.events.sweepDark(false), second.tracking.events.sweepDark(false)]);
    await until("the driver_dark event", () => darkOfTrip().length >= 1);
    // Looking again (and their timers looking too) finds the same silence: nothing new.
    await Promise.all([t.tracking.events.sweepDark(false), second.tracking.events.sweepDark(false)]);
    await t.tracking.relay.publishBatch();
    assert.equal(darkOfTrip().length, 1);
    const dark = darkOfTrip()[0]!.dark!;
    assert.equal(dark.driverId, driver.id);
    assert.equal(dark.customerId, trip.customerId);
    assert.ok(dark.silentSeconds >= 31, String(dark.silentSeconds));
    assert.deepEqual(dark.lastLocation, PICKUP);

    // Back (through the other replica), then silent again: a second event. A replica clears the
    // mark it knows of; one that has not yet heard of it clears it on the driver's next point.
    await until(
      "the other replica knows the dark mark",
      () => second.tracking.trips.activeOf(driver.id)?.darkAt !== undefined,
    );
    await second.client.updateLocation(
      { points: [pointAt(2, PICKUP.lat + 0.001, PICKUP.lng, { recordedAt: new Date(Date.now() + clock - 1000) })] },
      t.as(driver.token),
    );
    await until(
      "the dark mark cleared everywhere",
      () =>
        t.tracking.trips.activeOf(driver.id)?.darkAt === undefined &&
        second.tracking.trips.activeOf(driver.id)?.darkAt === undefined,
    );
    assert.equal(Number((await t.tracking.feed.row(trip.bookingId))?.dark_at ?? 0), 0);
    clock += 31_000;
    await Promise.all([t.tracking.events.sweepDark(false), second.tracking.events.sweepDark(false)]);
    await until("the second driver_dark event", () => darkOfTrip().length >= 2);
    assert.equal(darkOfTrip().length, 2);
    await second.stop();
  });

  it("a driver's half-close keeps the server side open: the last acks and later commands still arrive", async () => {
    const driver = await t.driver();
    const stream = t.stream(driver.token);
    stream.send([pointAt(1, PICKUP.lat, PICKUP.lng), pointAt(2, PICKUP.lat + 0.0005, PICKUP.lng)]);
    stream.halfClose();
    await stream.waitForAck(2);
    await until("the stream is still registered", () => t.tracking.commands.connectedHere(driver.id));
    assert.equal(
      t.tracking.commands.send(driver.id, {
        kind: { $case: "statusPrompt", value: { bookingId: uuidv7(), nextStatus: "AT_PICKUP", message: "Reached?" } },
      }),
      "queued",
    );
    await until("the command after the half-close", () => stream.responses.some((r) => r.kind?.$case === "command"));
    assert.equal(stream.status, undefined, "the server did not end the stream");
    stream.close();
  });

  it("a slow WatchLocation reader holds a bounded queue and still gets the newest position", async () => {
    const driver = await t.driver();
    const trip = await t.startTrip(driver.id);
    const controller = new AbortController();
    let received = 0;
    let lastSeq = 0;
    let reading = false;
    const watching = (async () => {
      for await (const update of t.client.watchLocation(
        { bookingId: trip.bookingId },
        { ...trip.customer, signal: controller.signal },
      )) {
        received += 1;
        lastSeq = update.position!.seq;
        await until("the stalled app reads again", () => reading, 60_000, 20);
      }
    })().catch(() => undefined);
    const t0 = Date.now() - 6 * 3600_000;
    const total = 2000;
    for (let from = 1; from <= total; from += 500) {
      await t.client.updateLocation(
        {
          points: Array.from({ length: 500 }, (_, i) =>
            pointAt(from + i, PICKUP.lat + (from + i) * 0.0009, PICKUP.lng, {
              recordedAt: new Date(t0 + (from + i) * 10_000),
            }),
          ),
        },
        t.as(driver.token),
      );
    }
    const queued = await t.platform.metrics.registry.getSingleMetric("weelo_tracking_watch_queued_positions")!.get();
    assert.ok(queued.values[0]!.value <= t.config.WATCH_MAX_PENDING, `queued ${queued.values[0]!.value}`);
    reading = true;
    await until("the newest position reaches the slow reader", () => lastSeq === total);
    assert.ok(received < total, `dropped the oldest (received ${received} of ${total})`);
    controller.abort();
    await watching;
  });
});

describe("tracking drains on shutdown", () => {
  it("an open driver stream gets the acks of what was read, a ReconnectCommand, then OK; acked points are stored", async () => {
    const t = await startTestTracking();
    try {
      const replica = await t.replica();
      const driver = await t.driver();
      const trip = await t.startTrip(driver.id);
      await until(
        "the replica knows the trip",
        () => replica.tracking.trips.activeOf(driver.id)?.bookingId === trip.bookingId,
      );
      const stream = replica.stream(driver.token);
      const t0 = Date.now() - 3600_000;
      const points = (from: number, to: number) =>
        Array.from({ length: to - from + 1 }, (_, i) =>
          pointAt(from + i, PICKUP.lat + (from + i) * 0.0009, PICKUP.lng, {
            recordedAt: new Date(t0 + (from + i) * 10_000),
          }),
        );
      stream.send(points(1, 10));
      await stream.waitForAck(10);
      stream.send(points(11, 20));
      await replica.stop();
      const status = await stream.waitForEnd();
      assert.equal(status.code, grpc.status.OK, status.details);
      const last = stream.responses.at(-1);
      assert.equal(last?.kind?.$case, "command");
      assert.equal(last?.kind?.$case === "command" && last.kind.value.kind?.$case, "reconnect");
      const acked = stream.acked;
      assert.ok(acked >= 10);
      // Everything acked is in the trip path (written before the replica stopped).
      const seqs = (await t.client.getTripPath({ bookingId: trip.bookingId }, trip.customer)).points.map((p) => p.seq);
      for (let seq = 1; seq <= acked; seq++) assert.ok(seqs.includes(seq), `acked point ${seq} is missing`);
      // A new stream during the drain would have been refused; after it, the app reconnects to the other replica.
      const again = t.stream(driver.token);
      again.send(points(acked + 1, 25));
      await again.waitForAck(25);
      again.close();
    } finally {
      await t.stop();
    }
  });
});
