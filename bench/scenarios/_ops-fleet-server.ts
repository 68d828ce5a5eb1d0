/**
 * The tracking service alone in a bench child (embedded defaults, DATA_DIR from the parent so
 * it can load the development mesh CA and call as `ops`), with BENCH_DRIVERS online drivers in
 * a box around Pune, each known to the position store. Every driver's position then moves once
 * per BENCH_FLEET_EVERY_MS (default 4 s, spread evenly), published directly on tracking's
 * cross-replica fleet subject exactly as ingest publishes it (DriverPosition on
 * `<root>.fleet.position`), whether or not a console watches: the same bus traffic with and
 * without the fleet stream. Prints READY port=<mesh port>.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { v7 as uuidv7 } from "uuid";
import { DriverPosition } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking";
import { EPHEMERAL_LOOPBACK } from "@weelo/grpc";
import { createPlatform } from "@weelo/runtime";
import { loadTrackingConfig, startTracking } from "@weelo/tracking";
import { exitOnSignal } from "../lib/ready.js";

const FLEET_BOX = { south: 18.4, west: 73.7, north: 18.7, east: 74.0 };

const drivers = Number(process.env.BENCH_DRIVERS ?? 10_000);
const everyMs = Number(process.env.BENCH_FLEET_EVERY_MS ?? 4000);
const dataDir = process.env.DATA_DIR ?? (await mkdtemp(join(tmpdir(), "weelo-bench-fleet-")));
const config = loadTrackingConfig({
  ...process.env,
  NODE_ENV: "development",
  LOG_LEVEL: process.env.BENCH_VERBOSE === "1" ? "info" : "warn",
  DATA_DIR: dataDir,
  GRPC_HOST: "127.0.0.1",
  GRPC_PORT: "0",
  DATABASE_URL: undefined,
  REDIS_URL: undefined,
  NATS_URL: undefined,
  FLEET_GRPC_URL: undefined,
});
const platform = await createPlatform(config, { name: "ops-fleet-bench" });
await platform.bus.ensureStream({ name: config.BOOKING_STREAM, subjects: [`${config.BOOKING_SUBJECT_ROOT}.>`] });
const tracking = await startTracking(platform, config);
const { meshPort } = await platform.grpc.listen(EPHEMERAL_LOOPBACK);

const fleet = Array.from({ length: drivers }, (_, i) => ({
  id: uuidv7(),
  transporterId: `t${i % 2000}`,
  lat: FLEET_BOX.south + Math.random() * (FLEET_BOX.north - FLEET_BOX.south),
  lng: FLEET_BOX.west + Math.random() * (FLEET_BOX.east - FLEET_BOX.west),
  heading: Math.random() * 360,
  seq: 1,
}));
for (const d of fleet) {
  await tracking.availability.apply(d.id, {
    online: true,
    vehicleType: "open_17ft",
    vehicleId: `v-${d.id}`,
    transporterId: d.transporterId,
  });
  await tracking.store.record(d.id, {
    lastSeq: 1,
    lastSeenAt: Date.now(),
    position: {
      seq: 1,
      recordedAt: Date.now(),
      lat: d.lat,
      lng: d.lng,
      accuracyM: 8,
      speedMps: 10,
      heading: d.heading,
    },
  });
}

const subject = `${config.TRACKING_SUBJECT_ROOT}.fleet.position`;
const TICK_MS = 100;
const perTick = Math.ceil((drivers * TICK_MS) / everyMs);
let next = 0;
const ticker = setInterval(() => {
  const now = Date.now();
  for (let i = 0; i < perTick; i++) {
    const d = fleet[next]!;
    next = (next + 1) % fleet.length;
    // About 40 m along the heading, turning a little; kept in the box.
    d.heading = (d.heading + (Math.random() - 0.5) * 20 + 360) % 360;
    const rad = (d.heading * Math.PI) / 180;
    d.lat = Math.min(FLEET_BOX.north, Math.max(FLEET_BOX.south, d.lat + 0.00036 * Math.cos(rad)));
    d.lng = Math.min(FLEET_BOX.east, Math.max(FLEET_BOX.west, d.lng + 0.00036 * Math.sin(rad)));
    d.seq += 1;
    platform.bus.publish(
      subject,
      DriverPosition.encode({
        driverId: d.id,
        location: { lat: d.lat, lng: d.lng },
        recordedAt: new Date(now),
        accuracyM: 8,
        speedMps: 10,
        heading: d.heading,
        seq: d.seq,
        lastSeenAt: new Date(now),
      }).finish(),
    );
  }
}, TICK_MS);

exitOnSignal(async () => {
  clearInterval(ticker);
  await platform.shutdown();
  if (!process.env.DATA_DIR) await rm(dataDir, { recursive: true, force: true });
});
process.stdout.write(`READY port=${meshPort}\n`);
