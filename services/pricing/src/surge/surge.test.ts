/** Surge inputs: the bus payloads understood (and tolerated), counting by H3 neighbourhood, expiry. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createBus } from "@weelo/bus";
import { BookingStatus } from "@weelo/contracts/grpc/weelo/booking/v1/booking";
import { BookingCreated, BookingStatusChanged } from "@weelo/contracts/grpc/weelo/booking/v1/events";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import { AvailabilityChangeReason, DriverAvailabilityChanged } from "@weelo/contracts/grpc/weelo/fleet/v1/events";
import { gridDisk, latLngToCell } from "h3-js";
import { createLogger } from "@weelo/log";
import { until } from "@weelo/testing";
import { parseSurgeEvent, subscribeSurgeEvents, surgeEventHandler } from "./surge-events.js";
import { InMemorySurgeInputs } from "./surge-inputs.js";

const logger = createLogger({ service: "test", level: "silent" });
const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const koramangala = { lat: 12.9352, lng: 77.6245 };
/** About 1.5 km east: the next H3 cell at resolution 7, inside the ring. */
const nearby = { lat: 12.9352, lng: 77.6385 };
/** Whitefield, ~12 km away: outside the ring. */
const farAway = { lat: 12.9698, lng: 77.75 };
/** A fleet availability event as fleet's outbox publishes it: protobuf in an EventEnvelope. */
const fleetEvent = (driverId: string, vehicleType: string, online: boolean) =>
  EventEnvelope.encode({
    id: "0194b1c2-0000-7000-8000-000000000001",
    type: "fleet.driver.availability",
    subjectId: driverId,
    sequence: 1,
    occurredAt: new Date(),
    payload: {
      typeUrl: "type.googleapis.com/weelo.fleet.v1.DriverAvailabilityChanged",
      value: Buffer.from(
        DriverAvailabilityChanged.encode({
          driverId,
          transporterId: "t1",
          vehicleId: "v1",
          vehicleType,
          online,
          occurredAt: new Date(),
          reason: AvailabilityChangeReason.AVAILABILITY_CHANGE_REASON_DRIVER,
        }).finish(),
      ),
    },
    requestId: "",
  }).finish();
/** A booking event as booking's outbox publishes it: protobuf in an EventEnvelope. */
const bookingEnvelope = (type: string, bookingId: string, payloadType: string, value: Uint8Array) =>
  EventEnvelope.encode({
    id: `0194b1c2-0000-7000-8000-${bookingId.padStart(12, "0")}`,
    type,
    subjectId: bookingId,
    sequence: 1,
    occurredAt: new Date(),
    payload: { typeUrl: `type.googleapis.com/weelo.booking.v1.${payloadType}`, value: Buffer.from(value) },
    requestId: "",
  }).finish();
const bookingCreated = (bookingId: string, vehicleType: string, pickup: { lat: number; lng: number }) =>
  bookingEnvelope(
    "booking.created",
    bookingId,
    "BookingCreated",
    BookingCreated.encode(
      BookingCreated.fromPartial({ bookingId, orderId: "o1", vehicleType, pickup, orderVehicleCount: 3 }),
    ).finish(),
  );
const statusChanged = (bookingId: string, to: BookingStatus) =>
  bookingEnvelope(
    "booking.status_changed",
    bookingId,
    "BookingStatusChanged",
    BookingStatusChanged.encode(BookingStatusChanged.fromPartial({ bookingId, to })).finish(),
  );
const neighbourhood = (point: { lat: number; lng: number }) => gridDisk(latLngToCell(point.lat, point.lng, 7), 1);

describe("surge events", () => {
  it("understands booking.created in several shapes", () => {
    assert.deepEqual(
      parseSurgeEvent(
        "booking.created",
        json({ bookingId: "b1", vehicleType: "mini_truck", pickup: koramangala, vehicleCount: 3 }),
      ),
      {
        kind: "booking_open",
        bookingId: "b1",
        vehicleType: "mini_truck",
        location: koramangala,
        vehicles: 3,
      },
    );
    assert.deepEqual(
      parseSurgeEvent(
        "booking.created",
        json({
          id: "evt",
          payload: {
            booking_id: "b2",
            vehicle_type: "lcv_14ft",
            pickup: { line1: "x", location: { lat: 12.9, lng: 77.6 } },
          },
        }),
      ),
      {
        kind: "booking_open",
        bookingId: "b2",
        vehicleType: "lcv_14ft",
        location: { lat: 12.9, lng: 77.6 },
        vehicles: 1,
      },
    );
    assert.deepEqual(
      parseSurgeEvent(
        "booking.created",
        json({ id: "b3", vehicleType: "mini_truck", pickupLat: 12.9, pickupLng: 77.6 }),
      ),
      {
        kind: "booking_open",
        bookingId: "b3",
        vehicleType: "mini_truck",
        location: { lat: 12.9, lng: 77.6 },
        vehicles: 1,
      },
    );
  });

  it("closes demand on cancellation, assignment and a closed status", () => {
    assert.deepEqual(parseSurgeEvent("booking.cancelled", json({ bookingId: "b1" })), {
      kind: "booking_closed",
      bookingId: "b1",
    });
    assert.deepEqual(parseSurgeEvent("booking.assigned", json({ id: "b1" })), {
      kind: "booking_closed",
      bookingId: "b1",
    });
    assert.deepEqual(
      parseSurgeEvent("booking.status_changed", json({ bookingId: "b1", status: "BOOKING_STATUS_IN_TRANSIT" })),
      { kind: "booking_closed", bookingId: "b1" },
    );
    assert.equal(
      parseSurgeEvent("booking.status_changed", json({ bookingId: "b1", status: "CONFIRMED" })),
      undefined,
      "still open",
    );
  });

  it("understands driver availability", () => {
    assert.deepEqual(
      parseSurgeEvent(
        "fleet.driver.availability",
        json({ driverId: "d1", vehicleType: "mini_truck", online: true, location: koramangala }),
      ),
      {
        kind: "driver_online",
        driverId: "d1",
        vehicleType: "mini_truck",
        location: koramangala,
      },
    );
    assert.deepEqual(
      parseSurgeEvent("fleet.driver.availability", json({ driver_id: "d1", status: "DRIVER_STATUS_OFFLINE" })),
      { kind: "driver_offline", driverId: "d1" },
    );
    assert.deepEqual(
      parseSurgeEvent(
        "fleet.driver.availability",
        json({
          driverId: "d1",
          status: "ONLINE",
          vehicle_type: "mini_truck",
          position: { latitude: 12.9, longitude: 77.6 },
        }),
      ),
      { kind: "driver_online", driverId: "d1", vehicleType: "mini_truck", location: { lat: 12.9, lng: 77.6 } },
    );
  });

  it("understands fleet's availability envelope and location events", () => {
    assert.deepEqual(parseSurgeEvent("fleet.driver.availability", fleetEvent("d1", "mini_truck", true)), {
      kind: "driver_online",
      driverId: "d1",
      vehicleType: "mini_truck",
    });
    assert.deepEqual(parseSurgeEvent("fleet.driver.availability", fleetEvent("d1", "mini_truck", false)), {
      kind: "driver_offline",
      driverId: "d1",
    });
    assert.deepEqual(parseSurgeEvent("tracking.driver.location", json({ driverId: "d1", lat: 12.9, lng: 77.6 })), {
      kind: "driver_location",
      driverId: "d1",
      location: { lat: 12.9, lng: 77.6 },
    });
    assert.deepEqual(
      parseSurgeEvent("tracking.driver.location", json({ driver_id: "d1", location: { lat: 12.9, lng: 77.6 } })),
      { kind: "driver_location", driverId: "d1", location: { lat: 12.9, lng: 77.6 } },
    );
    const otherPayload = EventEnvelope.encode({
      id: "x",
      type: "booking.created",
      subjectId: "b1",
      sequence: 1,
      payload: { typeUrl: "type.googleapis.com/weelo.booking.v1.BookingCreated", value: Buffer.from([8, 1]) },
      requestId: "",
    }).finish();
    assert.equal(parseSurgeEvent("booking.created", otherPayload), undefined, "a payload type surge does not know yet");
  });

  it("understands booking's own events: protobuf BookingCreated and BookingStatusChanged envelopes", () => {
    assert.deepEqual(parseSurgeEvent("booking.created", bookingCreated("b1", "mini_truck", koramangala)), {
      kind: "booking_open",
      bookingId: "b1",
      vehicleType: "mini_truck",
      location: koramangala,
      vehicles: 1,
    });
    assert.equal(
      parseSurgeEvent("booking.status_changed", statusChanged("b1", BookingStatus.BOOKING_STATUS_CONFIRMED)),
      undefined,
      "still open",
    );
    assert.deepEqual(
      parseSurgeEvent("booking.status_changed", statusChanged("b1", BookingStatus.BOOKING_STATUS_ASSIGNED)),
      { kind: "booking_closed", bookingId: "b1" },
    );
    assert.deepEqual(
      parseSurgeEvent("booking.cancelled", statusChanged("b1", BookingStatus.BOOKING_STATUS_CANCELLED)),
      { kind: "booking_closed", bookingId: "b1" },
    );
    assert.equal(
      parseSurgeEvent("booking.reopened", statusChanged("b1", BookingStatus.BOOKING_STATUS_PENDING)),
      undefined,
      "a reopen carries no pickup",
    );
  });

  it("ignores what it does not understand, without throwing", () => {
    const bytes = new Uint8Array([0x0a, 0x03, 0x66, 0x6f, 0x6f, 0xff]); // protobuf, not JSON
    assert.equal(parseSurgeEvent("booking.created", bytes), undefined);
    assert.equal(parseSurgeEvent("booking.created", json([1, 2, 3])), undefined);
    assert.equal(parseSurgeEvent("booking.created", json(null)), undefined);
    assert.equal(parseSurgeEvent("booking.created", json({ bookingId: "b1" })), undefined, "no vehicle type or pickup");
    assert.equal(
      parseSurgeEvent("booking.created", json({ bookingId: "b1", vehicleType: "x", pickup: { lat: "north", lng: 1 } })),
      undefined,
    );
    assert.equal(
      parseSurgeEvent("booking.created", json({ vehicleType: "x", pickup: koramangala })),
      undefined,
      "no id",
    );
    assert.equal(parseSurgeEvent("fleet.driver.availability", json({ driverId: "d1" })), undefined, "no online flag");
    assert.equal(parseSurgeEvent("tracking.location.b1", json({ lat: 1, lng: 2 })), undefined);
    const applied: unknown[] = [];
    const handle = surgeEventHandler({ apply: (event) => void applied.push(event) }, logger);
    handle({ subject: "booking.created", data: bytes, headers: {} });
    handle({ subject: "booking.cancelled", data: json({ bookingId: "b9" }), headers: {} });
    assert.deepEqual(applied, [{ kind: "booking_closed", bookingId: "b9" }]);
  });
});

describe("in-memory surge inputs", () => {
  const make = (now = () => 0) =>
    new InMemorySurgeInputs({ resolution: 7, bookingTtlMs: 30 * 60_000, driverTtlMs: 10 * 60_000, now });

  it("counts demand in vehicles and supply in drivers of one type around the pickup", () => {
    const inputs = make();
    inputs.apply({
      kind: "booking_open",
      bookingId: "b1",
      vehicleType: "mini_truck",
      location: koramangala,
      vehicles: 2,
    });
    inputs.apply({ kind: "booking_open", bookingId: "b2", vehicleType: "mini_truck", location: nearby, vehicles: 1 });
    inputs.apply({ kind: "booking_open", bookingId: "b3", vehicleType: "mini_truck", location: farAway, vehicles: 5 });
    inputs.apply({
      kind: "booking_open",
      bookingId: "b4",
      vehicleType: "lcv_14ft",
      location: koramangala,
      vehicles: 4,
    });
    inputs.apply({ kind: "driver_online", driverId: "d1", vehicleType: "mini_truck", location: nearby });
    inputs.apply({ kind: "driver_online", driverId: "d2", vehicleType: "lcv_14ft", location: koramangala });
    assert.deepEqual(inputs.countsNow(neighbourhood(koramangala), "mini_truck"), { demand: 3, supply: 1 });
    assert.deepEqual(inputs.countsNow(neighbourhood(koramangala), "lcv_14ft"), { demand: 4, supply: 1 });
    assert.deepEqual(inputs.countsNow(neighbourhood(farAway), "mini_truck"), { demand: 5, supply: 0 });
  });

  it("forgets closed bookings and drivers gone offline, and moves a driver who reports again", () => {
    const inputs = make();
    inputs.apply({
      kind: "booking_open",
      bookingId: "b1",
      vehicleType: "mini_truck",
      location: koramangala,
      vehicles: 2,
    });
    inputs.apply({
      kind: "booking_open",
      bookingId: "b1",
      vehicleType: "mini_truck",
      location: koramangala,
      vehicles: 2,
    }); // redelivered
    inputs.apply({ kind: "driver_online", driverId: "d1", vehicleType: "mini_truck", location: koramangala });
    assert.deepEqual(
      inputs.countsNow(neighbourhood(koramangala), "mini_truck"),
      { demand: 2, supply: 1 },
      "a duplicate event counts once",
    );
    inputs.apply({ kind: "driver_online", driverId: "d1", vehicleType: "mini_truck", location: farAway });
    assert.deepEqual(inputs.countsNow(neighbourhood(koramangala), "mini_truck"), { demand: 2, supply: 0 });
    assert.deepEqual(inputs.countsNow(neighbourhood(farAway), "mini_truck"), { demand: 0, supply: 1 });
    inputs.apply({ kind: "booking_closed", bookingId: "b1" });
    inputs.apply({ kind: "driver_offline", driverId: "d1" });
    inputs.apply({ kind: "booking_closed", bookingId: "never-seen" });
    assert.deepEqual(inputs.countsNow(neighbourhood(koramangala), "mini_truck"), { demand: 0, supply: 0 });
    assert.deepEqual(inputs.size, { bookings: 0, drivers: 0 });
  });

  it("counts a driver once online, vehicle type and position are all known, in either order", () => {
    let clock = 0;
    const inputs = make(() => clock);
    const here = neighbourhood(koramangala);
    inputs.apply({ kind: "driver_online", driverId: "d1", vehicleType: "mini_truck" });
    assert.deepEqual(inputs.countsNow(here, "mini_truck").supply, 0, "online, but nobody knows where");
    inputs.apply({ kind: "driver_location", driverId: "d1", location: koramangala });
    assert.deepEqual(inputs.countsNow(here, "mini_truck").supply, 1);
    inputs.apply({ kind: "driver_location", driverId: "d2", location: koramangala });
    assert.deepEqual(
      inputs.countsNow(here, "mini_truck").supply,
      1,
      "a position alone does not make a driver available",
    );
    inputs.apply({ kind: "driver_online", driverId: "d2", vehicleType: "mini_truck" });
    assert.deepEqual(inputs.countsNow(here, "mini_truck").supply, 2);
    clock = 9 * 60_000;
    inputs.apply({ kind: "driver_location", driverId: "d1", location: koramangala }); // keeps d1 fresh
    clock = 11 * 60_000;
    assert.deepEqual(inputs.countsNow(here, "mini_truck").supply, 1, "d2 went quiet and expired; d1 kept reporting");
    clock = 30 * 60_000;
    inputs.apply({ kind: "driver_location", driverId: "d1", location: koramangala });
    assert.deepEqual(
      inputs.countsNow(here, "mini_truck").supply,
      0,
      "after a long silence the old online state is not trusted",
    );
  });

  it("stops counting entries whose closing event never came", () => {
    let clock = 0;
    const inputs = make(() => clock);
    inputs.apply({
      kind: "booking_open",
      bookingId: "b1",
      vehicleType: "mini_truck",
      location: koramangala,
      vehicles: 1,
    });
    inputs.apply({ kind: "driver_online", driverId: "d1", vehicleType: "mini_truck", location: koramangala });
    clock = 10 * 60_000;
    assert.deepEqual(
      inputs.countsNow(neighbourhood(koramangala), "mini_truck"),
      { demand: 1, supply: 0 },
      "the driver's availability went stale",
    );
    clock = 30 * 60_000;
    assert.deepEqual(inputs.countsNow(neighbourhood(koramangala), "mini_truck"), { demand: 0, supply: 0 });
    inputs.apply({ kind: "driver_offline", driverId: "nobody" }); // any event sweeps
    assert.deepEqual(inputs.size, { bookings: 0, drivers: 0 });
  });

  it("is fed by the bus", async () => {
    const bus = createBus({ config: { NATS_URL: undefined }, service: "test", logger });
    try {
      const inputs = make(Date.now);
      const subscriptions = subscribeSurgeEvents(bus, inputs, logger);
      bus.publish(
        "booking.created",
        json({ bookingId: "b1", vehicleType: "mini_truck", pickup: koramangala, vehicleCount: 2 }),
      );
      bus.publish("booking.created", new TextEncoder().encode("not json"));
      bus.publish(
        "fleet.driver.availability",
        json({ driverId: "d1", vehicleType: "mini_truck", online: true, location: koramangala }),
      );
      bus.publish("fleet.driver.availability", fleetEvent("d2", "mini_truck", true));
      bus.publish("tracking.driver.location", json({ driverId: "d2", location: nearby }));
      await until(
        "surge saw the events",
        () => inputs.countsNow(neighbourhood(koramangala), "mini_truck").supply === 2,
      );
      assert.deepEqual(await inputs.counts(neighbourhood(koramangala), "mini_truck"), { demand: 2, supply: 2 });
      bus.publish("booking.cancelled", json({ bookingId: "b1" }));
      await until(
        "the cancellation closed demand",
        () => inputs.countsNow(neighbourhood(koramangala), "mini_truck").demand === 0,
      );
      for (const s of subscriptions) s.unsubscribe();
    } finally {
      await bus.close();
    }
  });
});
