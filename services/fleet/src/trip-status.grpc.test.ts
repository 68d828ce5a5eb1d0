/**
 * ON_TRIP from booking's events, end to end: booking's status events published on its stream
 * (as booking's outbox does), fleet's durable consumer applying them, and the driver's and
 * vehicle's status read, and their removal refused, through fleet's own RPCs.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { v7 as uuidv7 } from "uuid";
import { BookingStatus } from "@weelo/contracts/grpc/weelo/booking/v1/booking";
import { BookingStatusChanged } from "@weelo/contracts/grpc/weelo/booking/v1/events";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import { DriverStatus, VehicleStatus } from "@weelo/contracts/grpc/weelo/fleet/v1/fleet";
import { GrpcCode } from "@weelo/errors";
import { until } from "@weelo/testing";
import { failure, startTestFleet, uniqueRegistration, type TestFleet } from "./test-support.js";

describe("ON_TRIP from booking's events", () => {
  let t: TestFleet;
  before(async () => {
    t = await startTestFleet();
    await t.platform.bus.ensureStream({
      name: t.config.BOOKING_STREAM,
      subjects: [`${t.config.BOOKING_SUBJECT_ROOT}.>`],
    });
  });
  after(async () => {
    await t?.stop();
  });

  /** A transporter with a vehicle and a driver online with it. */
  async function crew() {
    const transporter = await t.transporter();
    const { vehicle } = await t.vehicles.addVehicle(
      {
        idempotencyKey: "",
        registrationNumber: uniqueRegistration(),
        vehicleType: "lcv_17ft",
        capacityKg: 3500,
        makeModel: "Eicher Pro 2049",
      },
      transporter.auth,
    );
    const driver = await t.driver(transporter);
    await t.drivers.setAvailability({ online: true, vehicleId: vehicle!.id }, driver.auth);
    return { transporter, driver, vehicleId: vehicle!.id };
  }

  /** Publishes a BookingStatusChanged as booking's outbox does (the envelope's sequence is the booking's change number). */
  async function publish(
    subject: "status_changed" | "cancelled" | "reopened",
    booking: { id: string; driverId: string; vehicleId: string },
    sequence: number,
    to: BookingStatus,
  ): Promise<string> {
    const withCrew = subject !== "reopened";
    const payload = BookingStatusChanged.encode(
      BookingStatusChanged.fromPartial({
        bookingId: booking.id,
        to,
        reopened: subject === "reopened",
        driverId: withCrew ? booking.driverId : "",
        vehicleId: withCrew ? booking.vehicleId : "",
        vehicleType: "lcv_17ft",
        occurredAt: new Date(),
      }),
    ).finish();
    const id = uuidv7();
    const envelope = EventEnvelope.encode({
      id,
      type: `booking.${subject}`,
      subjectId: booking.id,
      sequence,
      occurredAt: new Date(),
      payload: { typeUrl: "type.googleapis.com/weelo.booking.v1.BookingStatusChanged", value: Buffer.from(payload) },
      requestId: "",
    }).finish();
    await t.platform.bus.publishEvent(`${t.config.BOOKING_SUBJECT_ROOT}.${subject}`, envelope, { msgId: id });
    return id;
  }

  /** Waits until fleet applied the booking's event of this sequence. */
  async function applied(bookingId: string, sequence: number): Promise<void> {
    await until(`fleet applied event ${sequence} of ${bookingId}`, async () => {
      const hold = await t.db
        .selectFrom("trip_holds")
        .select("booking_seq")
        .where("booking_id", "=", bookingId)
        .executeTakeFirst();
      return Number(hold?.booking_seq ?? 0) >= sequence;
    });
  }

  /** How many events fleet found no newer than the last applied of their booking. */
  async function staleCount(): Promise<number> {
    const metric = t.platform.metrics.registry.getSingleMetric("weelo_fleet_trip_events_total");
    const values = (await metric?.get())?.values ?? [];
    return values.find((v) => v.labels.outcome === "stale")?.value ?? 0;
  }

  async function statusOf(c: Awaited<ReturnType<typeof crew>>) {
    const { driver } = await t.drivers.getDriver({ driverId: c.driver.id }, c.transporter.auth);
    const { vehicle } = await t.vehicles.getVehicle({ vehicleId: c.vehicleId }, c.transporter.auth);
    return { driver: driver!.status, vehicle: vehicle!.status };
  }

  it("sets driver and vehicle ON_TRIP on assignment, refuses removing them, and frees them on delivery", async () => {
    const c = await crew();
    const booking = { id: uuidv7(), driverId: c.driver.id, vehicleId: c.vehicleId };
    await publish("status_changed", booking, 2, BookingStatus.BOOKING_STATUS_ASSIGNED);
    await applied(booking.id, 2);
    assert.deepEqual(await statusOf(c), {
      driver: DriverStatus.DRIVER_STATUS_ON_TRIP,
      vehicle: VehicleStatus.VEHICLE_STATUS_ON_TRIP,
    });
    const removing = await failure(t.drivers.removeDriver({ driverId: c.driver.id }, c.transporter.auth));
    assert.equal(removing.code, GrpcCode.FAILED_PRECONDITION);
    assert.equal(removing.reason, "DRIVER_ON_TRIP");
    const deleting = await failure(t.vehicles.deleteVehicle({ vehicleId: c.vehicleId }, c.transporter.auth));
    assert.equal(deleting.code, GrpcCode.FAILED_PRECONDITION);
    assert.equal(deleting.reason, "VEHICLE_ON_TRIP");
    const offline = await failure(t.drivers.setAvailability({ online: false, vehicleId: "" }, c.driver.auth));
    assert.equal(offline.reason, "DRIVER_ON_TRIP");

    for (const [sequence, to] of [
      [3, BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE],
      [4, BookingStatus.BOOKING_STATUS_AT_PICKUP],
      [5, BookingStatus.BOOKING_STATUS_IN_TRANSIT],
    ] as const)
      await publish("status_changed", booking, sequence, to);
    await applied(booking.id, 5);
    assert.equal((await statusOf(c)).driver, DriverStatus.DRIVER_STATUS_ON_TRIP, "still on the trip");

    await publish("status_changed", booking, 6, BookingStatus.BOOKING_STATUS_COMPLETED);
    await applied(booking.id, 6);
    assert.deepEqual(await statusOf(c), {
      driver: DriverStatus.DRIVER_STATUS_ONLINE,
      vehicle: VehicleStatus.VEHICLE_STATUS_AVAILABLE,
    });
    // Redelivered or late events of the booking change nothing: the truck is not stuck ON_TRIP.
    const stale = await staleCount();
    await publish("status_changed", booking, 2, BookingStatus.BOOKING_STATUS_ASSIGNED);
    await publish("status_changed", booking, 5, BookingStatus.BOOKING_STATUS_IN_TRANSIT);
    await publish("status_changed", booking, 6, BookingStatus.BOOKING_STATUS_COMPLETED);
    await until("fleet handled the three late events", async () => (await staleCount()) >= stale + 3);
    assert.deepEqual(await statusOf(c), {
      driver: DriverStatus.DRIVER_STATUS_ONLINE,
      vehicle: VehicleStatus.VEHICLE_STATUS_AVAILABLE,
    });
    await t.vehicles.deleteVehicle({ vehicleId: c.vehicleId }, c.transporter.auth).catch(() => undefined);
  });

  it("ignores a start arriving after the end, and frees on cancellation and on reassignment", async () => {
    const late = await crew();
    const lateBooking = { id: uuidv7(), driverId: late.driver.id, vehicleId: late.vehicleId };
    await publish("cancelled", lateBooking, 3, BookingStatus.BOOKING_STATUS_CANCELLED);
    await applied(lateBooking.id, 3);
    const stale = await staleCount();
    await publish("status_changed", lateBooking, 2, BookingStatus.BOOKING_STATUS_ASSIGNED); // older: out of order
    await until("fleet handled the late start", async () => (await staleCount()) >= stale + 1);
    assert.deepEqual(await statusOf(late), {
      driver: DriverStatus.DRIVER_STATUS_ONLINE,
      vehicle: VehicleStatus.VEHICLE_STATUS_AVAILABLE,
    });

    // Assigned, then given to another driver and vehicle: the first pair is free, the second ON_TRIP.
    const first = await crew();
    const second = await crew();
    const booking = { id: uuidv7(), driverId: first.driver.id, vehicleId: first.vehicleId };
    await publish("status_changed", booking, 2, BookingStatus.BOOKING_STATUS_ASSIGNED);
    await publish("reopened", booking, 3, BookingStatus.BOOKING_STATUS_CONFIRMED);
    await publish(
      "status_changed",
      { ...booking, driverId: second.driver.id, vehicleId: second.vehicleId },
      4,
      BookingStatus.BOOKING_STATUS_ASSIGNED,
    );
    await applied(booking.id, 4);
    assert.equal((await statusOf(first)).driver, DriverStatus.DRIVER_STATUS_ONLINE);
    assert.equal((await statusOf(first)).vehicle, VehicleStatus.VEHICLE_STATUS_AVAILABLE);
    assert.equal((await statusOf(second)).driver, DriverStatus.DRIVER_STATUS_ON_TRIP);
    assert.equal((await statusOf(second)).vehicle, VehicleStatus.VEHICLE_STATUS_ON_TRIP);

    await publish("cancelled", booking, 5, BookingStatus.BOOKING_STATUS_CANCELLED);
    await applied(booking.id, 5);
    assert.deepEqual(await statusOf(second), {
      driver: DriverStatus.DRIVER_STATUS_ONLINE,
      vehicle: VehicleStatus.VEHICLE_STATUS_AVAILABLE,
    });
    await t.drivers.removeDriver({ driverId: second.driver.id }, second.transporter.auth);
  });

  it("puts a driver who was offline before the trip back offline", async () => {
    const c = await crew();
    await t.drivers.setAvailability({ online: false, vehicleId: "" }, c.driver.auth);
    const booking = { id: uuidv7(), driverId: c.driver.id, vehicleId: c.vehicleId };
    await publish("status_changed", booking, 2, BookingStatus.BOOKING_STATUS_ASSIGNED);
    await applied(booking.id, 2);
    assert.deepEqual(await statusOf(c), {
      driver: DriverStatus.DRIVER_STATUS_ON_TRIP,
      vehicle: VehicleStatus.VEHICLE_STATUS_ON_TRIP,
    });
    await publish("status_changed", booking, 3, BookingStatus.BOOKING_STATUS_COMPLETED);
    await applied(booking.id, 3);
    assert.deepEqual(await statusOf(c), {
      driver: DriverStatus.DRIVER_STATUS_OFFLINE,
      vehicle: VehicleStatus.VEHICLE_STATUS_AVAILABLE,
    });
  });
});
