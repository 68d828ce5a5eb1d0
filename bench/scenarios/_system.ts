/**
 * The whole system for a scenario: `system/src/all-in-one.ts` in a child process (as
 * `npm start` runs it), in its own data copy, schema prefix and key prefix, and a customer
 * logged in over the REST aliases. `stop()` ends the child and removes what it made.
 */
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { embeddedTestDataDir } from "@weelo/db";
import { startChild } from "../lib/child.js";
import { type GatewayClient, gatewayClient } from "./_gateway-calls.js";
import { dropBenchSchema } from "./_postgres.js";

const SERVICES = ["identity", "fleet", "pricing", "booking", "tracking", "dispatch", "notification"];

/**
 * Admission for closed loops: a closed loop keeps every connection's call in flight, and at
 * saturation each class's learnt limit falls below that (its round trips grow, and it backs off
 * while the event loop lags, ADAPTIVE_LIMIT_MAX_LOOP_LAG_MS). The rest then wait in the LIFO
 * line, where the newest are served first and the oldest starve until their wait ends: with the
 * product's 20 ms line they are refused, and with a long line they wait it out and are refused
 * all the same (seen: ListBookings' p99 1.4 s and 12 of 1,844 refused after 5 s; on Node 24, 4
 * calls of 5,012 through the mesh gateway answered 429 after the lag back-off was already off).
 * A throughput figure must count neither the limiter's refusals nor its starvation
 * (gateway-overload measures those, with the product's settings), so the limit's floor is above
 * the bench's 50 connections (the limit then stays at its class's ceiling or this floor: never
 * under the calls a closed loop keeps in flight), the line holds every connection for as long as
 * a call takes, and the limit does not back off on lag. The admission path itself still runs on
 * every call. A scenario's env overrides these.
 */
export const CLOSED_LOOP_LINE = {
  ADAPTIVE_LIMIT_MIN: "64",
  QUEUE_DEFAULT_MAX_QUEUED: "64",
  QUEUE_BOOKING_MAX_QUEUED: "64",
  QUEUE_MAX_WAIT_MS: "5000",
  QUEUE_OVERLOADED_WAIT_MS: "5000",
  ADAPTIVE_LIMIT_MAX_LOOP_LAG_MS: "0",
} as const;

export interface BenchSystem extends GatewayClient {
  /** The last lines the child printed (after `stop()`: what it printed at exit, e.g. its TLS handshake count). */
  recentOutput(): string;
  /** The gateway's admin listener (/metrics, /health/*), from the all-in-one's ready line. */
  adminUrl: string | undefined;
  stop(): Promise<void>;
}

export interface BenchSystemOptions {
  /** How long the all-in-one may take to start (default 120 s: a busy 2-core machine needs long). */
  readyTimeoutMs?: number;
  /**
   * Run the all-in-one through bench/scenarios/_all-in-one-mesh.ts with the gateway → service hop
   * on mutual TLS (as the product; plus a TLS handshake counter printed at exit) or in plaintext
   * (a comparison point the bench alone can build). Unset: system/src/all-in-one.ts as is.
   */
  meshHop?: "mtls" | "plaintext";
}

export async function startBenchSystem(
  env: Record<string, string> = {},
  options: BenchSystemOptions = {},
): Promise<BenchSystem> {
  const suffix = randomBytes(4).toString("hex");
  const dataDir = await embeddedTestDataDir();
  const system = await startChild({
    name: "weelo all-in-one",
    script: options.meshHop ? "bench/scenarios/_all-in-one-mesh.ts" : "system/src/all-in-one.ts",
    env: {
      ...(options.meshHop ? { BENCH_MESH_HOP: options.meshHop } : {}),
      NODE_ENV: "development",
      LOG_LEVEL: "info", // the "Weelo is up" line is info; requests log at debug
      PORT: "0",
      HOST: "127.0.0.1",
      GRPC_PORT: "0",
      GRPC_HOST: "127.0.0.1",
      // Scenarios' systems run side by side (all are started before any is loaded): every
      // listener on a port of its own, the mesh and admin ones included (fixed 50052 / 9464 by default).
      MESH_PORT: "0",
      MESH_HOST: "127.0.0.1",
      METRICS_PORT: "0",
      METRICS_HOST: "127.0.0.1",
      DATA_DIR: dataDir,
      DB_SCHEMA_PREFIX: `bench_${suffix}_`,
      CACHE_KEY_PREFIX: `bench:${suffix}:`,
      // One user hammers one method: per-user limits would measure the limiter, not the system.
      RATE_LIMIT_ENABLED: "false",
      ...CLOSED_LOOP_LINE,
      // The graceful shutdown must end within the bench's 5 s before SIGKILL, which would lose a
      // BENCH_CPU_PROF profile.
      SHUTDOWN_TIMEOUT_MS: "3000",
      ...env,
    },
    readyPattern: /"gateway":"http:\/\/127\.0\.0\.1:(\d+)"/,
    // A busy 2-core machine can take well over startChild's default 30 s to start the all-in-one.
    readyTimeoutMs: options.readyTimeoutMs ?? 120_000,
  });
  return {
    ...gatewayClient(system.baseUrl),
    recentOutput: () => system.recentOutput(),
    adminUrl: /"admin":"(http:\/\/[^"]+)"/.exec(system.recentOutput())?.[1],
    async stop() {
      await system.stop();
      await rm(dataDir, { recursive: true, force: true });
      if (env.DATABASE_URL ?? process.env.DATABASE_URL)
        await dropBenchSchema(SERVICES.map((service) => `bench_${suffix}_${service}`));
    },
  };
}

/** Starts the system, runs setup against it, and stops it again if setup fails. */
export async function withBenchSystem<T>(
  env: Record<string, string>,
  setup: (system: BenchSystem) => Promise<T>,
  options: BenchSystemOptions = {},
): Promise<T> {
  const system = await startBenchSystem(env, options);
  try {
    return await setup(system);
  } catch (error) {
    await system.stop();
    throw error;
  }
}
