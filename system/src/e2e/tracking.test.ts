/**
 * Tracking through the gateway's one port: a registered driver's bidirectional
 * StreamLocation relayed both ways (gRPC over h2c), acks for what was stored, duplicates
 * acked but not stored twice, the REST alias for clients that cannot stream, and refusals;
 * then a booking's trip across two whole system instances (two gateways, two tracking
 * replicas on the same database and bus): the customer watches through one gateway while the
 * driver streams through the other, and AT_PICKUP is refused until the driver is there.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { createClient as createConnectClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { TrackingService } from "@weelo/contracts/es/weelo/tracking/v1/tracking_service_pb";
import { BookingDispatchServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_dispatch_service";
import {
  TrackingServiceClient,
  type StreamLocationResponse,
} from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_service";
import { until } from "@weelo/testing";
import { bearer, startTestSystem, uniquePhone, type TestSystem } from "./test-support.js";

describe("tracking through the gateway", () => {
  let system: TestSystem;
  let driverToken: string;
  before(async () => {
    system = await startTestSystem({ OTP_RESEND_COOLDOWN_S: "0" });
    const transporter = await system.login("transporter");
    const phone = uniquePhone();
    const added = await system.connect(
      "/weelo.fleet.v1.DriverService/AddDriver",
      { idempotencyKey: randomUUID(), name: "Ganesh Jadhav", phone, licenceNumber: "MH12 20170012345" },
      bearer(transporter.accessToken),
    );
    assert.equal(added.status, 200, JSON.stringify(added.body));
    driverToken = (await system.login("driver", phone)).accessToken;
  });
  after(async () => {
    await system?.stop();
  });

  const point = (seq: number, lat: number) => ({
    seq,
    recordedAt: new Date(),
    lat,
    lng: 73.8567,
    accuracyM: 8,
    speedMps: 10,
    heading: 90,
  });

  it("relays a driver's location stream both ways and acks cumulatively", async () => {
    const client = new TrackingServiceClient(`127.0.0.1:${system.gatewayPort}`, grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${driverToken}`);
    const call = client.streamLocation(metadata);
    const acks: number[] = [];
    call.on("data", (message: StreamLocationResponse) => {
      if (message.kind?.$case === "ack") acks.push(message.kind.value.ackedSeq);
    });
    const ended = new Promise<void>((resolve) => call.on("error", () => resolve()).on("end", () => resolve()));
    try {
      call.write({ points: [point(1, 18.5204), point(2, 18.5206), point(3, 18.5208)] });
      await until("the batch is acked", () => acks.includes(3));
      call.write({ points: [point(2, 18.5206), point(3, 18.5208)] }); // a re-send after a reconnect
      call.write({ points: [point(4, 18.521)] });
      await until("the next point is acked", () => acks.includes(4));
      assert.deepEqual(
        acks,
        [...acks].sort((a, b) => a - b),
        "acks never go backwards",
      );
    } finally {
      call.cancel(); // the app going away
      await ended;
      client.close();
    }
  });

  it("takes points over the REST alias and refuses other roles", async () => {
    const sent = await system.rest(
      "POST",
      "/api/v1/tracking/location",
      { points: [{ ...point(10, 18.5212), recordedAt: new Date().toISOString() }] },
      bearer(driverToken),
    );
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    assert.equal(Number(sent.body.data.ackedSeq), 10);

    const customer = await system.login("customer");
    const refused = await system.rest(
      "POST",
      "/api/v1/tracking/location",
      { points: [{ ...point(1, 18.52), recordedAt: new Date().toISOString() }] },
      bearer(customer.accessToken),
    );
    assert.equal(refused.status, 403);
    assert.equal(
      (await system.rest("GET", `/api/v1/tracking/${randomUUID()}`, undefined, bearer(customer.accessToken))).status,
      404,
      "no such trip for this customer",
    );
    assert.equal((await system.rest("POST", "/api/v1/tracking/location", { points: [] })).status, 401);
  });

  it("tells over the REST alias which points were rejected and why: readings out of range are refused, never stored", async () => {
    const at = new Date().toISOString();
    const sent = await system.rest(
      "POST",
      "/api/v1/tracking/location",
      {
        points: [
          { ...point(20, 18.5214), recordedAt: at, heading: 400 },
          { ...point(21, 18.5214), recordedAt: at, speedMps: -3 },
          { ...point(22, 18.5214), recordedAt: at, accuracyM: -1 },
          { ...point(23, 18.5214), recordedAt: at },
        ],
      },
      bearer(driverToken),
    );
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    assert.equal(Number(sent.body.data.ackedSeq), 23);
    assert.equal(sent.body.data.rejected, 3);
    assert.deepEqual(
      sent.body.data.rejections.map((r: { seq: string; reason: string }) => [Number(r.seq), r.reason]),
      [
        [20, "POINT_REJECTION_INVALID_HEADING"],
        [21, "POINT_REJECTION_INVALID_SPEED"],
        [22, "POINT_REJECTION_INVALID_ACCURACY"],
      ],
    );
  });
});

describe("a trip across two gateway instances", () => {
  const PUNE = { lat: 18.5286, lng: 73.8743 };
  const HINJEWADI = { lat: 18.5912, lng: 73.7389 };
  let a: TestSystem;
  let b: TestSystem;
  before(async () => {
    a = await startTestSystem({ OTP_RESEND_COOLDOWN_S: "0" });
    // The second instance shares everything that makes it the same deployment: database,
    // schemas, keys, cache prefix, bus subjects and streams.
    const shared = a.platform.config as unknown as Record<string, unknown>;
    const same = Object.fromEntries(
      [
        "DATA_DIR",
        "DB_SCHEMA_PREFIX",
        "CACHE_KEY_PREFIX",
        "FLEET_STREAM",
        "FLEET_SUBJECT_ROOT",
        "BOOKING_STREAM",
        "BOOKING_SUBJECT_ROOT",
        "TRACKING_SUBJECT_ROOT",
        "TRACKING_STREAM",
        "NOTIFY_DLQ_STREAM",
        "NOTIFY_SUBJECT_ROOT",
        "NOTIFY_DURABLE_PREFIX",
      ]
        .filter((key) => shared[key] !== undefined)
        .map((key) => [key, String(shared[key])]),
    );
    b = await startTestSystem({ OTP_RESEND_COOLDOWN_S: "0", ...same });
  });
  after(async () => {
    await b?.stop();
    await a?.stop();
  });

  const point = (seq: number, at: { lat: number; lng: number }, ageMs: number) => ({
    seq,
    recordedAt: new Date(Date.now() - ageMs),
    lat: at.lat,
    lng: at.lng,
    accuracyM: 8,
    speedMps: 10,
    heading: 90,
  });

  it("the customer watching through one gateway sees the points sent through the other; AT_PICKUP waits for the driver to be there", async () => {
    const customer = await a.login("customer");
    const transporter = await a.login("transporter");
    const vehicle = (
      await a.rest(
        "POST",
        "/api/v1/vehicles",
        {
          idempotencyKey: randomUUID(),
          registrationNumber: `MH12TR${String(1000 + (process.pid % 9000))}`,
          vehicleType: "pickup_8ft",
          capacityKg: 1250,
        },
        bearer(transporter.accessToken),
      )
    ).body.data.vehicle;
    const phone = uniquePhone();
    const fleetDriver = (
      await a.connect(
        "/weelo.fleet.v1.DriverService/AddDriver",
        { idempotencyKey: randomUUID(), name: "Ramesh Patil", phone, licenceNumber: "MH12 20190012345" },
        bearer(transporter.accessToken),
      )
    ).body.driver;
    const driver = await a.login("driver", phone);
    const quote = await a.rest(
      "POST",
      "/api/v1/quotes",
      { pickup: PUNE, drop: HINJEWADI, vehicleType: "pickup_8ft", vehicleCount: 1 },
      bearer(customer.accessToken),
    );
    const place = (location: typeof PUNE) => ({
      line1: "Plot 7",
      city: "Pune",
      state: "Maharashtra",
      pincode: "411001",
      location,
      contactName: "Anil",
      contactPhone: `+91${uniquePhone()}`,
    });
    const created = await a.rest(
      "POST",
      "/api/v1/bookings",
      {
        quoteToken: quote.body.data.quoteToken,
        pickup: place(PUNE),
        drop: place(HINJEWADI),
        vehicleType: "pickup_8ft",
        vehicleCount: 1,
        goodsType: "furniture",
        weightKg: 500,
        idempotencyKey: randomUUID(),
      },
      bearer(customer.accessToken),
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const bookingId = created.body.data.order.bookings[0].id as string;
    const dispatch = a.platform.meshClient(BookingDispatchServiceService, `127.0.0.1:${a.meshPort}`, "dispatch");
    try {
      await dispatch.confirmBooking({ bookingId, transporterId: transporter.user.id });
      await dispatch.assignBooking({
        bookingId,
        transporterId: transporter.user.id,
        driverId: fleetDriver.id,
        driverUserId: driver.user.id,
        vehicleId: vehicle.id,
      });
    } finally {
      dispatch.close();
    }

    // Booking's events reach tracking on both instances (the trips table, re-read by each).
    await until(
      "tracking on the second instance knows the trip",
      async () =>
        (await b.rest("GET", `/api/v1/tracking/${bookingId}`, undefined, bearer(customer.accessToken))).status === 200,
      15_000,
    );

    const watcher = createConnectClient(
      TrackingService,
      createConnectTransport({ baseUrl: b.url, httpVersion: "1.1" }),
    );
    const abort = new AbortController();
    const seen: number[] = [];
    const watching = (async () => {
      try {
        for await (const update of watcher.watchLocation(
          { bookingId },
          { headers: bearer(customer.accessToken), signal: abort.signal },
        ))
          seen.push(Number(update.position!.seq));
      } catch (error) {
        if (!abort.signal.aborted) throw error;
      }
    })();

    const client = new TrackingServiceClient(`127.0.0.1:${a.gatewayPort}`, grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${driver.accessToken}`);
    const call = client.streamLocation(metadata);
    const acks: number[] = [];
    call.on("data", (message: StreamLocationResponse) => {
      if (message.kind?.$case === "ack") acks.push(message.kind.value.ackedSeq);
    });
    const ended = new Promise<void>((resolve) => call.on("error", () => resolve()).on("end", () => resolve()));
    const move = (status: string) =>
      a.connect(
        "/weelo.booking.v1.BookingService/UpdateBookingStatus",
        { bookingId, status, location: PUNE },
        bearer(driver.accessToken),
      );
    try {
      // 2.3 km north of the pickup, 10 minutes ago.
      call.write({ points: [point(1, { lat: PUNE.lat + 2300 / 111_195, lng: PUNE.lng }, 10 * 60_000)] });
      await until("the first point is acked", () => acks.includes(1));
      await until("the watcher on the other gateway sees it", () => seen.includes(1), 10_000);
      assert.equal((await move("BOOKING_STATUS_DRIVER_EN_ROUTE")).status, 200);
      const refused = await move("BOOKING_STATUS_AT_PICKUP");
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.equal(refused.body.code, "failed_precondition");
      assert.equal(refused.body.message, "driver is 2.3 km from the pickup; arrive within 100 m");

      call.write({
        points: [point(2, { lat: PUNE.lat + 600 / 111_195, lng: PUNE.lng }, 5 * 60_000), point(3, PUNE, 60_000)],
      });
      await until("the points at the pickup are acked", () => acks.includes(3));
      await until("the watcher sees the truck arrive", () => seen.includes(3), 10_000);
      assert.deepEqual(
        seen,
        [...seen].sort((x, y) => x - y),
        "in order",
      );
      assert.equal((await move("BOOKING_STATUS_AT_PICKUP")).status, 200);
    } finally {
      call.cancel();
      await ended;
      client.close();
      abort.abort();
      await watching;
    }
  });
});
