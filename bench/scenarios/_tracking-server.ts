/**
 * The tracking service alone in a bench child (embedded defaults: PGlite in a temporary
 * directory, the in-process bus and position store), with BENCH_DRIVERS drivers and
 * BENCH_TRIPS of them on trips, started the way production starts them: booking's events
 * published on booking's stream. Writes the drivers' tokens and the trips' watchers to
 * BENCH_TRACKING_FILE, serves the control side door on BENCH_CONTROL_PORT, then prints READY.
 * Run with --expose-gc.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { v7 as uuidv7 } from "uuid";
import { TokenIssuer } from "@weelo/auth";
import { EPHEMERAL_LOOPBACK } from "@weelo/grpc";
import { BookingStatus } from "@weelo/contracts/grpc/weelo/booking/v1/booking";
import { BookingCreated, BookingStatusChanged } from "@weelo/contracts/grpc/weelo/booking/v1/events";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import { createPlatform } from "@weelo/runtime";
import { loadTrackingConfig, startTracking } from "@weelo/tracking";
import { exitOnSignal } from "../lib/ready.js";
import { startControlServer } from "./_tracking-control.js";

export interface TrackingBenchFile {
  drivers: { id: string; token: string }[];
  trips: { bookingId: string; driverIndex: number; customerToken: string }[];
}

const drivers = Number(process.env.BENCH_DRIVERS ?? 2000);
const tripCount = Number(process.env.BENCH_TRIPS ?? 20);
const dataDir = await mkdtemp(join(tmpdir(), "weelo-bench-tracking-"));
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
const platform = await createPlatform(config, { name: "tracking-bench" });
await platform.bus.ensureStream({ name: config.BOOKING_STREAM, subjects: [`${config.BOOKING_SUBJECT_ROOT}.>`] });
const tracking = await startTracking(platform, config);
const { publicPort: port } = await platform.grpc.listen(EPHEMERAL_LOOPBACK);

const issuer = new TokenIssuer(platform.keys);
const token = async (role: "driver" | "customer", userId: string) =>
  (
    await issuer.issueAccessToken({
      userId,
      role,
      sessionId: uuidv7(),
      ...(role === "driver" ? { transporterId: uuidv7() } : {}),
    })
  ).token;
const file: TrackingBenchFile = { drivers: [], trips: [] };
for (let i = 0; i < drivers; i++) {
  const id = uuidv7();
  file.drivers.push({ id, token: await token("driver", id) });
}

const publish = async (type: string, bookingId: string, sequence: number, payloadType: string, payload: Uint8Array) => {
  const id = uuidv7();
  const envelope = EventEnvelope.encode({
    id,
    type: `booking.${type}`,
    subjectId: bookingId,
    sequence,
    occurredAt: new Date(),
    payload: { typeUrl: `type.googleapis.com/${payloadType}`, value: Buffer.from(payload) },
    requestId: "",
  }).finish();
  await platform.bus.publishEvent(`${config.BOOKING_SUBJECT_ROOT}.${type}`, envelope, { msgId: id });
};
// Trips for drivers spread over the range (every (drivers/trips)-th driver), so each load worker has some.
for (let t = 0; t < tripCount; t++) {
  const driverIndex = Math.floor((t * drivers) / tripCount);
  const driver = file.drivers[driverIndex]!;
  const bookingId = uuidv7();
  const customerId = uuidv7();
  const transporterId = uuidv7();
  await publish(
    "created",
    bookingId,
    1,
    "weelo.booking.v1.BookingCreated",
    BookingCreated.encode(
      BookingCreated.fromPartial({
        bookingId,
        customerId,
        vehicleType: "open_17ft",
        pickup: { lat: 18.52, lng: 73.85 },
        drop: { lat: 18.59, lng: 73.74 },
      }),
    ).finish(),
  );
  await publish(
    "status_changed",
    bookingId,
    3,
    "weelo.booking.v1.BookingStatusChanged",
    BookingStatusChanged.encode(
      BookingStatusChanged.fromPartial({
        bookingId,
        to: BookingStatus.BOOKING_STATUS_ASSIGNED,
        customerId,
        transporterId,
        driverId: driver.id,
      }),
    ).finish(),
  );
  file.trips.push({ bookingId, driverIndex, customerToken: await token("customer", customerId) });
}
const deadline = Date.now() + 60_000;
while (
  file.trips.some((trip) => tracking.trips.activeOf(file.drivers[trip.driverIndex]!.id)?.bookingId !== trip.bookingId)
) {
  if (Date.now() > deadline) throw new Error("the bench trips did not start");
  await new Promise((resolve) => setTimeout(resolve, 50));
}
await writeFile(process.env.BENCH_TRACKING_FILE!, JSON.stringify(file));

await startControlServer(
  Number(process.env.BENCH_CONTROL_PORT),
  () => tracking.streams.size,
  async () => {
    const metric = await platform.metrics.registry.getSingleMetric("weelo_tracking_points_total")!.get();
    return Object.fromEntries(metric.values.map((v) => [String(v.labels.outcome), v.value]));
  },
);
exitOnSignal(async () => {
  await platform.shutdown();
  await rm(dataDir, { recursive: true, force: true });
});
process.stdout.write(`READY port=${port}\n`);
