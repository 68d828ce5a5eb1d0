/**
 * Surge with supply, end to end: pricing and tracking on one real platform (embedded defaults,
 * or the real Postgres, Redis and NATS when their URLs are set). Demand is booking's
 * BookingCreated events on the bus, supply the drivers tracking holds available (fleet's
 * availability, then a position through UpdateLocation); the customer asks GetQuote and the
 * quote's multiplier follows demand ÷ supply. Pricing asks tracking's CountAvailableDrivers
 * over the mesh with its own certificate, as it does in production.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { v7 as uuidv7 } from "uuid";
import { TokenIssuer } from "@weelo/auth";
import { BookingCreated } from "@weelo/contracts/grpc/weelo/booking/v1/events";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import { PricingServiceService } from "@weelo/contracts/grpc/weelo/pricing/v1/pricing_service";
import { TrackingInternalServiceService } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import { TrackingServiceService } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_service";
import { GrpcCode } from "@weelo/errors";
import { createClient, createMeshClient, EPHEMERAL_LOOPBACK, type CallOptions, type ServiceClient } from "@weelo/grpc";
import { createPlatform, type Platform } from "@weelo/runtime";
import { failure, isolatedTestEnvironment, until } from "@weelo/testing";
import { loadTrackingConfig, startTracking, type TrackingModule } from "@weelo/tracking";
import { cellToParent, gridDisk, latLngToCell } from "h3-js";
import { loadPricingConfig, startPricing } from "@weelo/pricing";

const VEHICLE_TYPE = "pickup_8ft";

describe("surge with supply from tracking, through GetQuote", () => {
  let isolated: Awaited<ReturnType<typeof isolatedTestEnvironment>>;
  let platform: Platform;
  let tracking: TrackingModule;
  let bookingRoot: string;
  let bookingStream: string;
  let quotes: ServiceClient<typeof PricingServiceService>;
  let positions: ServiceClient<typeof TrackingServiceService>;
  let supply: ServiceClient<typeof TrackingInternalServiceService>;
  let issuer: TokenIssuer;
  let customer: CallOptions;

  before(async () => {
    isolated = await isolatedTestEnvironment();
    bookingRoot = `t_${isolated.suffix}_booking`;
    bookingStream = `t_${isolated.suffix}_BOOKING`;
    const env = {
      ...isolated.env,
      BOOKING_SUBJECT_ROOT: bookingRoot,
      BOOKING_STREAM: bookingStream,
      FLEET_SUBJECT_ROOT: `t_${isolated.suffix}_fleet`,
      TRACKING_SUBJECT_ROOT: `t_${isolated.suffix}_tracking`,
      TRACKING_STREAM: `t_${isolated.suffix}_TRACKING`,
      QUOTES_PER_USER_PER_MINUTE: "1000",
      SURGE_SUPPLY_CACHE_MS: "0",
    };
    const trackingConfig = loadTrackingConfig(env);
    platform = await createPlatform(trackingConfig, { name: "surge-supply-test" });
    await platform.bus.ensureStream({ name: bookingStream, subjects: [`${bookingRoot}.>`] });
    let meshPort = 0;
    await startPricing(platform, loadPricingConfig(env), { ownAddress: () => `127.0.0.1:${meshPort}` });
    tracking = await startTracking(platform, trackingConfig);
    const ports = await platform.grpc.listen(EPHEMERAL_LOOPBACK);
    meshPort = ports.meshPort;
    quotes = createClient(PricingServiceService, `127.0.0.1:${ports.publicPort}`, { deadlineMs: 5000 });
    positions = createClient(TrackingServiceService, `127.0.0.1:${ports.publicPort}`, { deadlineMs: 5000 });
    supply = createMeshClient(TrackingInternalServiceService, `127.0.0.1:${meshPort}`, {
      deadlineMs: 5000,
      mesh: platform.mesh,
      caller: "pricing",
    });
    issuer = new TokenIssuer(platform.keys);
    customer = await bearer("customer");
  });

  after(async () => {
    quotes?.close();
    positions?.close();
    supply?.close();
    await platform?.bus.deleteStream(bookingStream).catch(() => false);
    await platform?.bus.deleteStream(`t_${isolated.suffix}_TRACKING`).catch(() => false);
    await platform?.shutdown();
    if (isolated?.env.REDIS_URL) {
      const { Redis } = await import("ioredis");
      const redis = new Redis(isolated.env.REDIS_URL);
      const keys = await redis.keys(`${isolated.env.CACHE_KEY_PREFIX}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
    await isolated?.cleanup(["pricing", "tracking"]);
  });

  async function bearer(role: "customer" | "driver", userId = uuidv7()): Promise<CallOptions> {
    const { token } = await issuer.issueAccessToken({ userId, role, sessionId: uuidv7() });
    return { metadata: { authorization: `Bearer ${token}` } };
  }

  /** A booking of one truck opened at the pickup, as booking's outbox publishes it. */
  async function openBooking(pickup: { lat: number; lng: number }, vehicleType = VEHICLE_TYPE): Promise<void> {
    const bookingId = uuidv7();
    const payload = BookingCreated.encode(
      BookingCreated.fromPartial({ bookingId, orderId: uuidv7(), vehicleType, pickup, orderVehicleCount: 1 }),
    ).finish();
    const id = uuidv7();
    const envelope = EventEnvelope.encode({
      id,
      type: "booking.created",
      subjectId: bookingId,
      sequence: 1,
      occurredAt: new Date(),
      payload: { typeUrl: "type.googleapis.com/weelo.booking.v1.BookingCreated", value: Buffer.from(payload) },
      requestId: "",
    }).finish();
    await platform.bus.publishEvent(`${bookingRoot}.created`, envelope, { msgId: id });
  }

  /** A driver online with a vehicle of the type (fleet's event, applied) and seen at the point (the app's fix). */
  async function driverAt(point: { lat: number; lng: number }, vehicleType = VEHICLE_TYPE): Promise<string> {
    const driverId = uuidv7();
    await tracking.availability.apply(driverId, {
      online: true,
      vehicleType,
      vehicleId: uuidv7(),
      transporterId: uuidv7(),
    });
    const fix = { seq: 1, recordedAt: new Date(Date.now() - 1000), ...point, accuracyM: 8, speedMps: 0, heading: 0 };
    await positions.updateLocation({ points: [fix] }, await bearer("driver", driverId));
    return driverId;
  }

  async function surgeAt(
    pickup: { lat: number; lng: number },
    vehicleType = VEHICLE_TYPE,
    scheduledAt: Date | undefined = undefined,
  ): Promise<number> {
    const drop = { lat: pickup.lat + 0.05, lng: pickup.lng + 0.05 };
    const { quote } = await quotes.getQuote({ pickup, drop, vehicleType, vehicleCount: 1, scheduledAt }, customer);
    return quote!.perVehicle!.surgeMultiplier;
  }

  it("prices N available drivers against M open bookings near the pickup", async () => {
    // A random spot near Pune, so parallel runs on one NATS server do not count each other's events.
    const pickup = { lat: 18.4 + Math.random() * 0.3, lng: 73.7 + Math.random() * 0.3 };
    const nearby = { lat: pickup.lat + 0.003, lng: pickup.lng - 0.002 };
    for (let i = 0; i < 4; i++) await openBooking(pickup);
    await until("4 open bookings, nobody available: the cap", async () => (await surgeAt(pickup)) === 2, 10_000, 100);

    await driverAt(nearby);
    const second = await driverAt(pickup);
    // Drivers who are not supply here: another vehicle type, far away, offline.
    await driverAt(pickup, "mini_truck");
    await driverAt({ lat: pickup.lat + 0.5, lng: pickup.lng });
    const offline = await driverAt(pickup);
    await tracking.availability.apply(offline, {
      online: false,
      vehicleType: VEHICLE_TYPE,
      vehicleId: uuidv7(),
      transporterId: uuidv7(),
    });
    assert.equal(await surgeAt(pickup), 1.5, "4 wanted ÷ 2 available → 1 + 0.5 × 1");

    await driverAt(pickup);
    assert.equal(await surgeAt(pickup), 1.16, "4 ÷ 3 → 1 + 0.5 × ⅓, rounded down to hundredths");
    await driverAt(nearby);
    assert.equal(await surgeAt(pickup), 1, "as many drivers as bookings: no surge");

    await tracking.availability.apply(second, {
      online: false,
      vehicleType: VEHICLE_TYPE,
      vehicleId: uuidv7(),
      transporterId: uuidv7(),
    });
    assert.equal(await surgeAt(pickup), 1.16, "a driver going offline is supply no more");
    assert.equal(await surgeAt(pickup, "mini_truck"), 1, "surge is per vehicle type");
    const tomorrow = new Date(Date.now() + 86_400_000);
    assert.equal(await surgeAt(pickup, VEHICLE_TYPE, tomorrow), 1, "live surge does not price tomorrow's trip");
  });

  it("counts by H3 cell at tracking, refusing cells finer than its index", async () => {
    const point = { lat: 18.1 + Math.random() * 0.2, lng: 74.1 + Math.random() * 0.2 };
    await driverAt(point);
    await driverAt(point);
    const cells = gridDisk(latLngToCell(point.lat, point.lng, 7), 1);
    assert.equal(
      (await supply.countAvailableDrivers({ h3Cells: cells, vehicleType: VEHICLE_TYPE })).availableDrivers,
      2,
    );
    // The parent of the drivers' index cell: H3 cells do not nest exactly, so the coarse cell
    // that contains the point may not hold its finer cell (which made this test flaky).
    const coarse = [cellToParent(latLngToCell(point.lat, point.lng, 7), 5)];
    assert.equal(
      (await supply.countAvailableDrivers({ h3Cells: coarse, vehicleType: VEHICLE_TYPE })).availableDrivers,
      2,
    );
    const fine = await failure(
      supply.countAvailableDrivers({ h3Cells: [latLngToCell(point.lat, point.lng, 9)], vehicleType: VEHICLE_TYPE }),
    );
    assert.equal(fine.code, GrpcCode.INVALID_ARGUMENT);
    assert.equal(fine.field, "h3_cells");
    const none = await failure(supply.countAvailableDrivers({ h3Cells: [], vehicleType: VEHICLE_TYPE }));
    assert.equal(none.code, GrpcCode.INVALID_ARGUMENT);
  });
});
