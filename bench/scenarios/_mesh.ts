/**
 * The deployed topology for the *-mesh scenarios: the gateway and each service in its own
 * process from the build (dist/), wired as docker-compose.yml wires them, upstreams on the
 * mutual-TLS mesh port, on the real Postgres, Redis and NATS (DATABASE_URL, REDIS_URL, NATS_URL),
 * in a schema prefix, key prefix and streams of the run's own. It is the city simulator's mesh
 * (sim/mesh.ts `startMesh`, imported as is), with one dispatch replica.
 *
 * One mesh serves every mesh scenario of a run: the first to start starts it, the last to stop
 * stops it (nine processes per mesh would crowd 2 cores if each scenario had its own). Its
 * processes count as the bench's servers for the CPU columns, and with BENCH_CPU_PROF or
 * BENCH_HEAP_SURVIVORS each writes its profile at exit (profilingArgs in lib/child.ts).
 */
import { resolve } from "node:path";
import { type MeshSystem, startMesh } from "../../sim/mesh.js";
import { profilingArgs, trackServerPids } from "../lib/child.js";
import { ScenarioSkipped } from "../lib/scenario.js";
import { type GatewayClient, gatewayClient } from "./_gateway-calls.js";
import { CLOSED_LOOP_LINE } from "./_system.js";

const NEEDS = ["DATABASE_URL", "REDIS_URL", "NATS_URL"] as const;

export interface BenchMesh {
  client: GatewayClient;
  system: MeshSystem;
  stop(): Promise<void>;
}

let shared: Promise<BenchMesh> | undefined;
let users = 0;

/**
 * A mesh of the bench's own: the shared one (below) with the closed loops' admission line, or
 * one with a scenario's settings (gateway-overload-mesh: the product's line). `env` is added to
 * every process's settings. Throws ScenarioSkipped when the real servers' URLs are not set.
 */
export async function startBenchMesh(env: Record<string, string>): Promise<BenchMesh> {
  const missing = NEEDS.filter((name) => !process.env[name]);
  if (missing.length > 0)
    throw new ScenarioSkipped(
      `the mesh runs on the real servers: set ${missing.join(", ")} (as CI and the README's test command do)`,
    );
  const mesh = await startMesh({
    overrides: {
      // One customer hammers one method: per-user limits would measure the limiter, not the system.
      RATE_LIMIT_ENABLED: "false",
      QUOTES_PER_USER_PER_MINUTE: "100000",
      // Exit within the bench's patience, so a BENCH_CPU_PROF profile is written.
      SHUTDOWN_TIMEOUT_MS: "3000",
      // The mesh's processes get only the settings given here: where to write their heap samples.
      ...(process.env.BENCH_HEAP_SURVIVORS ? { BENCH_HEAP_SURVIVORS: resolve(process.env.BENCH_HEAP_SURVIVORS) } : {}),
      ...env,
    },
    // Flags, not NODE_OPTIONS: Node refuses --cpu-prof there (each process exited with code 9).
    nodeArgs: profilingArgs(),
    replicas: { dispatch: 1 },
    progress: (line) => console.log(`mesh: ${line}`),
  });
  const untrack = trackServerPids(() =>
    mesh.processes.flatMap((p) => (p.alive && p.child?.pid !== undefined ? [p.child.pid] : [])),
  );
  return {
    client: gatewayClient(mesh.url),
    system: mesh,
    async stop() {
      untrack();
      await mesh.stop();
    },
  };
}

// The closed loops' line (_system.ts; seen without it: the gateway refused 6,327 of 8,861
// ListBookings, as 429, once the booking class's limit fell below the 50 connections).
const start = () => startBenchMesh(CLOSED_LOOP_LINE);

/**
 * The shared mesh, started on first use; `release()` stops it after its last user. Throws
 * ScenarioSkipped (a printed reason, not a failure) when the real servers' URLs are not set.
 */
export async function acquireMesh(): Promise<{
  client: GatewayClient;
  /** Its processes (the start-up scenario stops and starts them). */
  system: MeshSystem;
  release(): Promise<void>;
}> {
  users++;
  shared ??= start();
  let mesh: BenchMesh;
  try {
    mesh = await shared;
  } catch (error) {
    users--;
    shared = undefined;
    throw error;
  }
  let released = false;
  return {
    client: mesh.client,
    system: mesh.system,
    async release() {
      if (released) return;
      released = true;
      if (--users === 0) {
        shared = undefined;
        await mesh.stop();
      }
    },
  };
}

/** Acquires the mesh, runs setup against its gateway, and releases it if setup fails. */
export async function withMesh<T>(
  setup: (client: GatewayClient, release: () => Promise<void>) => Promise<T>,
): Promise<T> {
  const mesh = await acquireMesh();
  try {
    return await setup(mesh.client, () => mesh.release());
  } catch (error) {
    await mesh.release();
    throw error;
  }
}
