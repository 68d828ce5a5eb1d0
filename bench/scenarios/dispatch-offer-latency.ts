/**
 * How fast a new booking reaches transporters: BENCH_DRIVERS (default 10,000) online drivers
 * spread over a city (25 km × 25 km, BENCH_TRANSPORTERS transporters, every one holding a
 * WatchOffers stream), one-truck bookings created at BENCH_DISPATCH_RATE (default 50/s) with
 * random pickups; the figure is the time from CreateBooking returning to the first offer of
 * that order arriving on a transporter's WatchOffers stream (p50, p99), beside the raw NATS
 * publish → receive latency measured at the same rate in the same run.
 * Target: p99 under 250 ms.
 *
 * Dispatch runs in its own process, calling pricing, fleet, booking and tracking in another over
 * gRPC, as the deployments run them; BENCH_DISPATCH_TOPOLOGY=all-in-one puts all five in one
 * process, as `npm start` does.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { freePort } from "@weelo/testing";
import { startChild, type ChildServer } from "../lib/child.js";
import { defaultLoadSettings } from "../lib/load.js";
import type { MeasureResult, MeasureScenario } from "../lib/scenario.js";
import { percentile, startWorkers } from "../lib/workers.js";
import type { DispatchLoadInput, DispatchLoadResult } from "./_dispatch-load.js";
import type { DispatchBenchFile } from "./_dispatch-server.js";

const DRIVERS = Number(process.env.BENCH_DRIVERS ?? 10_000);
const TRANSPORTERS = Number(process.env.BENCH_TRANSPORTERS ?? 1000);
const RATE = Number(process.env.BENCH_DISPATCH_RATE ?? 50);
const MAX_OFFERS = process.env.BENCH_DISPATCH_MAX_OFFERS ?? "20";
const ALL_IN_ONE = process.env.BENCH_DISPATCH_TOPOLOGY === "all-in-one";

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

export default {
  name: "dispatch-offer-latency",
  description: `${DRIVERS} online drivers, ${TRANSPORTERS} transporters watching offers, ${RATE} bookings/s: CreateBooking returned → offer on WatchOffers, beside raw NATS publish → receive`,
  async measure(): Promise<MeasureResult> {
    const dir = await mkdtemp(join(tmpdir(), "weelo-bench-dispatch-file-"));
    const path = join(dir, "dispatch.json");
    const env = {
      BENCH_DRIVERS: String(DRIVERS),
      BENCH_TRANSPORTERS: String(TRANSPORTERS),
      BENCH_DISPATCH_FILE: path,
      BENCH_DISPATCH_MAX_OFFERS: MAX_OFFERS,
      BENCH_RUN: randomBytes(4).toString("hex"),
      BENCH_DATA_DIR: join(dir, "data"),
    };
    const servers: ChildServer[] = [];
    const pool = { kill: () => undefined } as { kill(): void };
    try {
      // The upstream's mesh port (mutual TLS), where the dispatch process calls it; both share BENCH_DATA_DIR's development CA.
      const upstreamMeshPort = await freePort();
      const server = await startChild({
        name: ALL_IN_ONE ? "pricing, fleet, booking, tracking, dispatch" : "pricing, fleet, booking, tracking",
        script: "bench/scenarios/_dispatch-server.ts",
        env: { ...env, BENCH_DISPATCH_ROLE: ALL_IN_ONE ? "all" : "upstream", MESH_PORT: String(upstreamMeshPort) },
        readyTimeoutMs: 300_000,
      });
      servers.push(server);
      const dispatcher = ALL_IN_ONE
        ? server
        : await startChild({
            name: "dispatch",
            script: "bench/scenarios/_dispatch-server.ts",
            env: {
              ...env,
              BENCH_DISPATCH_ROLE: "dispatch",
              BENCH_UPSTREAM: `127.0.0.1:${upstreamMeshPort}`,
              MESH_PORT: "0",
            },
            readyTimeoutMs: 120_000,
          });
      if (!ALL_IN_ONE) servers.push(dispatcher);
      const file = JSON.parse(await readFile(path, "utf8")) as DispatchBenchFile;
      const { durationS, warmupS } = defaultLoadSettings();
      const workers = startWorkers<DispatchLoadInput, DispatchLoadResult>(
        "bench/scenarios/_dispatch-load.ts",
        1,
        () => ({
          address: `127.0.0.1:${server.port}`,
          dispatchAddress: `127.0.0.1:${dispatcher.port}`,
          file,
          ratePerS: RATE,
          warmupMs: warmupS * 1000,
          measureMs: (durationS - warmupS) * 1000,
          streamsPerConnection: 100,
        }),
      );
      pool.kill = workers.kill;
      const [result] = await workers.results;
      const r = result!;
      const p50 = percentile(r.offerLatenciesMs, 50);
      const p99 = percentile(r.offerLatenciesMs, 99);
      const natsP50 = percentile(r.natsLatenciesMs, 50);
      const natsP99 = percentile(r.natsLatenciesMs, 99);
      const problems = [...r.errors];
      if (r.offerLatenciesMs.length === 0) problems.push("no order got an offer");
      if (r.ordersWithoutOffer > 0)
        problems.push(`${r.ordersWithoutOffer} measured orders got no offer within 5 s of the run's end`);
      const baseline = (label: string, value: number) =>
        Number.isFinite(value) ? { baseline: { label, value: round(value, 2) } } : {};
      return {
        figures: [
          {
            label: "p50 CreateBooking returned → offer on WatchOffers",
            value: round(p50, 2),
            unit: "ms",
            ...baseline("raw NATS publish → receive p50", natsP50),
          },
          {
            label: "p99 CreateBooking returned → offer on WatchOffers",
            value: round(p99, 2),
            unit: "ms",
            ...baseline("raw NATS publish → receive p99", natsP99),
          },
          { label: "bookings created", value: r.booked, unit: "bookings" },
        ],
        checks: [
          {
            label: "p99 offer latency < 250 ms",
            pass: p99 < 250,
            detail: `${round(p99, 1)} ms over ${r.offerLatenciesMs.length} orders`,
          },
        ],
        notes: [
          `${r.streams} WatchOffers streams (100 per HTTP/2 connection) from one load worker process; one-truck bookings at ${RATE}/s for ${durationS - warmupS} s after ${warmupS} s of warm-up; first wave 3 km, at most ${MAX_OFFERS} transporters offered per wave.`,
          ALL_IN_ONE
            ? "The five services run in one child process (BENCH_DISPATCH_TOPOLOGY=all-in-one, as `npm start` runs them) on the real Postgres and NATS (the cache in process); the load worker calls booking and dispatch over gRPC directly (no gateway hop). Drivers are seeded into tracking's position store as its availability events and points would put them."
            : "Dispatch runs in its own child process, pricing, fleet, booking and tracking in another (dispatch calls tracking and fleet over gRPC), as the deployments run them, on the real Postgres and NATS (the cache in process); the load worker calls booking and dispatch over gRPC directly (no gateway hop). Drivers are seeded into tracking's position store as its availability events and points would put them. BENCH_DISPATCH_TOPOLOGY=all-in-one runs the five in one process.",
          r.natsNote ||
            "Raw NATS: its own publisher and subscriber connections to the server, a 64-byte message at the same rate.",
        ],
        problems,
      };
    } finally {
      pool.kill();
      for (const server of servers.reverse()) await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
} satisfies MeasureScenario;
