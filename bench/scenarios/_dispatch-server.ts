/**
 * The services of a booking's broadcast in bench children, on the real Postgres (DATABASE_URL,
 * else the local server; schemas of this run only) and NATS (NATS_URL, else the local server;
 * streams of this run only), the cache in process. BENCH_DISPATCH_ROLE says which:
 *   - "upstream": pricing, fleet, booking and tracking on one gRPC port. Seeds BENCH_DRIVERS
 *     online drivers spread over a city (BENCH_TRANSPORTERS transporters) straight into
 *     tracking's position store, as its availability events and location points would, and
 *     writes the transporters' and a customer's tokens to BENCH_DISPATCH_FILE;
 *   - "dispatch": dispatch alone, calling the upstream process (BENCH_UPSTREAM, host:mesh port) over
 *     gRPC, as its own deployment does;
 *   - "all" (default): all five on one port, as the all-in-one process runs them.
 * Processes of one run share BENCH_RUN (names of schemas, streams and subjects) and
 * BENCH_DATA_DIR (the token keys). Prints READY when serving.
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { v7 as uuidv7 } from "uuid";
import { TokenIssuer } from "@weelo/auth";
import { bookingConfigSchema, startBooking } from "@weelo/booking";
import { loadConfig } from "@weelo/config";
import { dispatchConfigSchema, startDispatch } from "@weelo/dispatch";
import { fleetConfigSchema, startFleet } from "@weelo/fleet";
import { pricingConfigSchema, startPricing } from "@weelo/pricing";
import { createPlatform } from "@weelo/runtime";
import { startTracking, trackingConfigSchema } from "@weelo/tracking";
import { exitOnSignal } from "../lib/ready.js";
import { benchDatabaseUrl, dropBenchSchema } from "./_postgres.js";

export interface DispatchBenchFile {
  transporters: { id: string; token: string }[];
  customerToken: string;
  /** The city's box: bookings are picked up inside it. */
  box: { minLat: number; maxLat: number; minLng: number; maxLng: number };
  vehicleType: string;
}

export type DispatchBenchRole = "all" | "upstream" | "dispatch";

/** Pune and around, about 25 km × 25 km. */
const BOX = { minLat: 18.4, maxLat: 18.625, minLng: 73.74, maxLng: 73.975 };
const VEHICLE_TYPE = "lcv_14ft";
const role = (process.env.BENCH_DISPATCH_ROLE ?? "all") as DispatchBenchRole;
const drivers = Number(process.env.BENCH_DRIVERS ?? 10_000);
const transporterCount = Number(process.env.BENCH_TRANSPORTERS ?? 1000);
const run = process.env.BENCH_RUN ?? randomBytes(4).toString("hex");
const dataDir = process.env.BENCH_DATA_DIR ?? join(tmpdir(), `weelo-bench-dispatch-${run}`);
await mkdir(dataDir, { recursive: true });
const upstream = role !== "dispatch";
const SERVICES = [
  ...(upstream ? ["pricing", "fleet", "booking", "tracking"] : []),
  ...(role !== "upstream" ? ["dispatch"] : []),
];
const schema = pricingConfigSchema
  .extend(fleetConfigSchema.shape)
  .extend(bookingConfigSchema.shape)
  .extend(trackingConfigSchema.shape)
  .extend(dispatchConfigSchema.shape);
const elsewhere = role === "dispatch" ? process.env.BENCH_UPSTREAM : undefined;
const config = loadConfig(schema, {
  ...process.env,
  NODE_ENV: "development",
  LOG_LEVEL: process.env.BENCH_VERBOSE === "1" ? "info" : "warn",
  DATA_DIR: dataDir,
  GRPC_HOST: "127.0.0.1",
  GRPC_PORT: "0",
  DATABASE_URL: benchDatabaseUrl(),
  DB_SCHEMA_PREFIX: `bench_${run}_`,
  // Up to five pools in one process: 5 × 12 connections stay under a default server's 100.
  DB_POOL_MAX: "12",
  REDIS_URL: undefined,
  NATS_URL: process.env.NATS_URL ?? "nats://127.0.0.1:4222",
  BOOKING_STREAM: `B_BOOKING_${run}`,
  BOOKING_SUBJECT_ROOT: `b_${run}_booking`,
  FLEET_STREAM: `B_FLEET_${run}`,
  FLEET_SUBJECT_ROOT: `b_${run}_fleet`,
  TRACKING_SUBJECT_ROOT: `b_${run}_tracking`,
  DISPATCH_STREAM: `B_DISPATCH_${run}`,
  DISPATCH_SUBJECT_ROOT: `b_${run}_dispatch`,
  DISPATCH_CONSUMER: `b_${run}_dispatch`,
  BOOKING_GRPC_URL: elsewhere,
  TRACKING_GRPC_URL: elsewhere,
  FLEET_GRPC_URL: elsewhere,
  // Seeded positions stay fresh for the whole run.
  STALE_AFTER_S: "3600",
  QUOTES_PER_USER_PER_MINUTE: "100000",
  MAX_OFFERS_PER_WAVE: process.env.BENCH_DISPATCH_MAX_OFFERS ?? "20",
});
if (role === "dispatch" && !elsewhere)
  throw new Error("BENCH_UPSTREAM (host:port of the upstream process) is required with BENCH_DISPATCH_ROLE=dispatch");
const platform = await createPlatform(config, { name: `dispatch-bench-${role}` });
let port = 0;
let tracking: Awaited<ReturnType<typeof startTracking>> | undefined;
if (upstream) {
  await startPricing(platform, config);
  await startFleet(platform, config, { vehicleTypes: { has: async () => true } });
  await startBooking(platform, config, { ownAddress: () => `127.0.0.1:${meshPort}` });
  tracking = await startTracking(platform, config, { resolveDriver: async () => "" });
}
let meshPort = 0;
const dispatch =
  role !== "upstream"
    ? await startDispatch(platform, config, { ownAddress: () => `127.0.0.1:${meshPort}` })
    : undefined;
// The mesh port is the parent's choice (MESH_PORT), so the dispatch process can be told where the upstream's is.
({ publicPort: port, meshPort } = await platform.grpc.listen({
  publicHost: "127.0.0.1",
  publicPort: 0,
  meshHost: "127.0.0.1",
  meshPort: config.MESH_PORT,
}));
await dispatch?.consuming;

if (tracking) {
  const issuer = new TokenIssuer(platform.keys);
  const file: DispatchBenchFile = { transporters: [], customerToken: "", box: BOX, vehicleType: VEHICLE_TYPE };
  for (let i = 0; i < transporterCount; i++) {
    const id = uuidv7();
    file.transporters.push({
      id,
      token: (await issuer.issueAccessToken({ userId: id, role: "transporter", sessionId: uuidv7() })).token,
    });
  }
  file.customerToken = (
    await issuer.issueAccessToken({ userId: uuidv7(), role: "customer", sessionId: uuidv7() })
  ).token;
  // Deterministic spread: the same city every run.
  let seed = 42;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const now = Date.now();
  for (let i = 0; i < drivers; i++) {
    const driverId = uuidv7();
    const transporter = file.transporters[i % transporterCount]!;
    await tracking.availability.apply(driverId, {
      online: true,
      vehicleType: VEHICLE_TYPE,
      vehicleId: uuidv7(),
      transporterId: transporter.id,
    });
    const lat = BOX.minLat + random() * (BOX.maxLat - BOX.minLat);
    const lng = BOX.minLng + random() * (BOX.maxLng - BOX.minLng);
    await tracking.store.record(driverId, {
      lastSeq: 1,
      lastSeenAt: now,
      position: { seq: 1, recordedAt: now, lat, lng, accuracyM: 8, speedMps: 0, heading: 0 },
    });
  }
  await writeFile(process.env.BENCH_DISPATCH_FILE!, JSON.stringify(file));
}
exitOnSignal(async () => {
  if (process.env.BENCH_VERBOSE === "1") await printWorkCounts();
  const streams = [
    ...(upstream ? [config.BOOKING_STREAM, config.FLEET_STREAM] : []),
    ...(dispatch ? [config.DISPATCH_STREAM] : []),
  ];
  for (const stream of streams) await platform.bus.deleteStream(stream).catch(() => false);
  await platform.shutdown();
  await dropBenchSchema(SERVICES.map((service) => `bench_${run}_${service}`));
  if (!process.env.BENCH_DATA_DIR) await rm(dataDir, { recursive: true, force: true });
});
process.stdout.write(`READY port=${port}\n`);

/** With BENCH_VERBOSE=1: how much work the run caused (statements per service, RPCs, bus messages), from the process's metrics. */
async function printWorkCounts(): Promise<void> {
  const lines: string[] = [];
  for (const metric of await platform.metrics.registry.getMetricsAsJSON()) {
    if (
      ![
        "weelo_db_query_duration_seconds",
        "weelo_rpc_client_duration_seconds",
        "weelo_bus_messages_total",
        "weelo_outbox_publish_lag_seconds",
      ].includes(metric.name)
    )
      continue;
    for (const value of metric.values as {
      value: number;
      labels: Record<string, string | number>;
      metricName?: string;
    }[]) {
      if (
        String(metric.type) === "histogram" &&
        !value.metricName?.endsWith("_count") &&
        !value.metricName?.endsWith("_sum")
      )
        continue;
      lines.push(`${metric.name} ${JSON.stringify(value.labels)} ${value.value}`);
    }
  }
  process.stdout.write(`work counts (${role}):\n${lines.join("\n")}\n`);
}
