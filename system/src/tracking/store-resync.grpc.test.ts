/**
 * A Redis position store that lost its data is rebuilt from fleet. Fleet and tracking on one
 * platform with the real Redis and NATS (as the all-in-one runs them: tracking asks fleet's
 * ListOnlineDrivers in process): drivers go online through fleet, tracking hears it on the
 * bus; then every key of tracking's store is deleted, as a Redis restart leaves it, and the
 * online drivers must be available again within the check interval, while a driver who went
 * offline stays unavailable. Fleet's side is checked too: the pages
 * of ListOnlineDrivers, in driver id order, online and on-trip drivers only.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { v7 as uuidv7 } from "uuid";
import type { Principal } from "@weelo/auth";
import { type FleetModule, loadFleetConfig, startFleet } from "@weelo/fleet";
import { createPlatform, type Platform } from "@weelo/runtime";
import { isolatedTestEnvironment, until } from "@weelo/testing";
import { loadTrackingConfig, startTracking, type TrackingModule } from "@weelo/tracking";

const REDIS_URL = process.env.REDIS_URL;
const NATS_URL = process.env.NATS_URL;
const skip = REDIS_URL && NATS_URL ? false : "REDIS_URL and NATS_URL not set (the store that loses its data is Redis)";

let registration = 0;
let phone = 0;

describe("a lost Redis position store is rebuilt from fleet", { skip }, () => {
  let isolated: Awaited<ReturnType<typeof isolatedTestEnvironment>>;
  let platform: Platform;
  let fleet: FleetModule;
  let tracking: TrackingModule;
  let keyPrefix: string;

  before(async () => {
    isolated = await isolatedTestEnvironment();
    const env = {
      ...isolated.env,
      FLEET_STREAM: `t_${isolated.suffix}_FLEET`,
      FLEET_SUBJECT_ROOT: `t_${isolated.suffix}_fleet`,
      BOOKING_STREAM: `t_${isolated.suffix}_BOOKING`,
      BOOKING_SUBJECT_ROOT: `t_${isolated.suffix}_booking`,
      TRACKING_SUBJECT_ROOT: `t_${isolated.suffix}_tracking`,
      TRACKING_STREAM: `t_${isolated.suffix}_TRACKING`,
      OUTBOX_POLL_MS: "50",
      POSITION_STORE_CHECK_S: "1",
    };
    keyPrefix = String(isolated.env.CACHE_KEY_PREFIX);
    const trackingConfig = loadTrackingConfig(env);
    platform = await createPlatform(trackingConfig, { name: "store-resync-test" });
    await platform.bus.ensureStream({ name: env.BOOKING_STREAM, subjects: [`${env.BOOKING_SUBJECT_ROOT}.>`] });
    fleet = await startFleet(platform, loadFleetConfig(env), { vehicleTypes: { has: async () => true } });
    tracking = await startTracking(platform, trackingConfig, {
      resolveDriver: async (ctx) => ctx.principal!.userId,
      onlineDrivers: fleet.directory,
    });
  });

  after(async () => {
    for (const stream of ["FLEET", "BOOKING", "TRACKING"])
      await platform?.bus.deleteStream(`t_${isolated.suffix}_${stream}`).catch(() => false);
    await platform?.shutdown();
    await deleteKeys(`${keyPrefix}*`);
    await isolated?.cleanup(["fleet", "tracking"]);
  });

  async function deleteKeys(pattern: string): Promise<number> {
    const { Redis } = await import("ioredis");
    const redis = new Redis(REDIS_URL!);
    try {
      const keys = await redis.keys(pattern);
      if (keys.length > 0) await redis.del(...keys);
      return keys.length;
    } finally {
      redis.disconnect();
    }
  }

  const transporterPrincipal = (): Principal => ({
    userId: uuidv7(),
    role: "transporter",
    sessionId: uuidv7(),
    expiresAt: Date.now() + 3_600_000,
  });

  /** A transporter's vehicle and a driver logged in (linked as identity links them), online with it. */
  async function onlineDriver(): Promise<{ driverId: string; vehicleId: string; principal: Principal }> {
    const transporter = transporterPrincipal();
    registration += 1;
    const vehicle = await fleet.service.addVehicle(transporter, {
      idempotencyKey: "",
      registrationNumber: `MH12AB${String(1000 + ((process.pid + registration * 37) % 9000))}`,
      vehicleType: "lcv_17ft",
      capacityKg: 3500,
      makeModel: "Eicher Pro 2049",
    });
    phone += 1;
    const driverPhone = `98${String(process.pid % 10_000).padStart(4, "0")}${String(phone).padStart(4, "0")}`;
    const driver = await fleet.service.addDriver(transporter, {
      idempotencyKey: "",
      name: "Ravi Kumar",
      phone: driverPhone,
      licenceNumber: `MH12${String(20110000000 + phone)}`,
    });
    const userId = uuidv7();
    await fleet.service.linkDriverAccount(driverPhone, userId);
    const principal: Principal = {
      userId,
      role: "driver",
      sessionId: uuidv7(),
      transporterId: transporter.userId,
      expiresAt: Date.now() + 3_600_000,
    };
    await fleet.service.setAvailability(principal, { online: true, vehicleId: vehicle.id });
    return { driverId: driver.id, vehicleId: vehicle.id, principal };
  }

  const availableIn = async (driverId: string) => (await tracking.store.get(driverId))?.availability?.online === true;

  it("lists online drivers in pages, and rebuilds their availability after the store lost everything", async () => {
    const first = await onlineDriver();
    const second = await onlineDriver();
    const gone = await onlineDriver();
    await fleet.service.setAvailability(gone.principal, { online: false, vehicleId: "" });
    for (const driver of [first, second])
      await until("tracking hears the driver is online", () => availableIn(driver.driverId), 10_000, 50);
    await until("tracking hears the driver went offline", async () => !(await availableIn(gone.driverId)), 10_000, 50);

    // Fleet's pages: one driver each, in id order, only the two online.
    const page1 = await fleet.directory.listOnlineDrivers({ pageSize: 1, pageToken: "" });
    assert.equal(page1.drivers.length, 1);
    assert.notEqual(page1.nextPageToken, "");
    const page2 = await fleet.directory.listOnlineDrivers({ pageSize: 1, pageToken: page1.nextPageToken });
    assert.equal(page2.drivers.length, 1);
    const all = await fleet.directory.listOnlineDrivers({ pageSize: 0, pageToken: "" });
    const listed = [...page1.drivers, ...page2.drivers].map((d) => d.driverId);
    assert.deepEqual(listed, [first.driverId, second.driverId].sort());
    assert.deepEqual(
      all.drivers.map((d) => d.driverId),
      listed,
    );
    assert.equal(all.nextPageToken, "");
    const firstListed = all.drivers.find((d) => d.driverId === first.driverId)!;
    assert.equal(firstListed.vehicleId, first.vehicleId);
    assert.equal(firstListed.vehicleType, "lcv_17ft");
    assert.ok(firstListed.sequence >= 1, "the driver's event sequence");

    const rebuildsBefore = tracking.storeResync?.rebuilds ?? 0;

    // A Redis restart: every key of tracking's store gone, the marker with them.
    const deleted = await deleteKeys(`${keyPrefix}tracking:*`);
    assert.ok(deleted >= 3, `the drivers' hashes and the marker were deleted (${deleted} keys)`);
    assert.equal(await availableIn(first.driverId), false, "the store has lost the driver");

    await until("the store is rebuilt", async () => (tracking.storeResync?.rebuilds ?? 0) > rebuildsBefore, 10_000, 50);
    assert.equal(await availableIn(first.driverId), true, "online again, from fleet");
    assert.equal(await availableIn(second.driverId), true);
    const stored = await tracking.store.get(first.driverId);
    assert.deepEqual(stored?.availability, {
      online: true,
      vehicleType: "lcv_17ft",
      vehicleId: first.vehicleId,
      transporterId: first.principal.transporterId,
    });
    assert.equal(await availableIn(gone.driverId), false, "a driver who went offline stays so");

    // Availability changes after the rebuild still apply (the sink forgot the old sequences, not the new ones).
    await fleet.service.setAvailability(first.principal, { online: false, vehicleId: "" });
    await until(
      "an offline event after the rebuild applies",
      async () => !(await availableIn(first.driverId)),
      10_000,
      50,
    );
  });
});
