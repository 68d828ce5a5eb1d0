/**
 * The ops console's live map at city scale: BENCH_FLEET_DRIVERS (default 10,000) online
 * drivers in one box, each moving once per 4 s, published directly on tracking's cross-replica
 * fleet subject as ingest publishes it (see _ops-fleet-server.ts), and ONE console watching the
 * whole box through tracking's WatchFleetPositions (over the mesh, as `ops`), turned into the
 * console's compact OpsService messages by services/ops/src/watch-fleet.ts in this process.
 * Measured: bytes/s the console would receive (encoded WatchFleetResponse; target < 1 MB/s)
 * beside the bytes/s of tracking's internal stream, updates/s per truck (≤ 1), and the tracking
 * server's CPU-seconds per second with the stream, against the same server publishing the
 * same positions with no watcher, measured first in the same run.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { WatchFleetResponse } from "@weelo/contracts/grpc/weelo/ops/v1/ops_service";
import {
  TrackingInternalServiceService,
  WatchFleetPositionsResponse,
  type WatchFleetPositionsRequest,
} from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import { CHANNEL_OPTIONS, Mesh } from "@weelo/grpc";
import { watchFleet } from "../../services/ops/src/watch-fleet.js";
import { startChild } from "../lib/child.js";
import { treeCpuSeconds } from "../lib/cpu.js";
import { defaultLoadSettings } from "../lib/load.js";
import type { MeasureResult, MeasureScenario } from "../lib/scenario.js";

const DRIVERS = Number(process.env.BENCH_FLEET_DRIVERS ?? 10_000);
const EVERY_MS = Number(process.env.BENCH_FLEET_EVERY_MS ?? 4000);
const BOX = { south: 18.4, west: 73.7, north: 18.7, east: 74.0 };

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Counters the stream adds to while the window is open. */
interface Window {
  open: boolean;
  internalBytes: number;
  consoleBytes: number;
  moves: number;
  perDriver: Map<string, number>;
}

export default {
  name: "ops-fleet-stream",
  description: `${DRIVERS} drivers moving every ${EVERY_MS / 1000} s, one ops console watching them all (tracking's WatchFleetPositions → ops' WatchFleet)`,
  async measure(): Promise<MeasureResult> {
    const { durationS, warmupS } = defaultLoadSettings();
    const measureS = durationS - warmupS;
    const dataDir = await mkdtemp(join(tmpdir(), "weelo-bench-fleet-"));
    const server = await startChild({
      name: "tracking-fleet",
      script: "bench/scenarios/_ops-fleet-server.ts",
      env: { DATA_DIR: dataDir, BENCH_DRIVERS: String(DRIVERS), BENCH_FLEET_EVERY_MS: String(EVERY_MS) },
      readyTimeoutMs: 180_000,
    });
    const problems: string[] = [];
    const controller = new AbortController();
    let raw: grpc.Client | undefined;
    try {
      const cpu = () => treeCpuSeconds(server.pid) ?? Number.NaN;
      // Baseline: the same positions on the bus, nobody watching.
      await sleep(warmupS * 1000);
      const baseline0 = cpu();
      await sleep(measureS * 1000);
      const baselineCpuPerS = (cpu() - baseline0) / measureS;

      const mesh = await Mesh.create(
        { MESH_TRUST_DOMAIN: "weelo", MESH_CERT_REFRESH_MS: 60_000, DATA_DIR: dataDir },
        { allowDevelopmentCa: true },
      );
      raw = new grpc.Client(`127.0.0.1:${server.port}`, mesh.channelCredentials("ops", "tracking"), {
        ...CHANNEL_OPTIONS,
        "grpc.max_receive_message_length": 16 * 1024 * 1024,
      });
      const client = raw;
      const window: Window = { open: false, internalBytes: 0, consoleBytes: 0, moves: 0, perDriver: new Map() };
      /** Distinct drivers received before the window opens: the snapshot (in chunks) and early moves. */
      const seenBefore = new Set<string>();
      // Tracking's stream with every message's size counted before it is decoded.
      const method = TrackingInternalServiceService.watchFleetPositions;
      async function* fleetPositions(request: WatchFleetPositionsRequest, signal: AbortSignal) {
        const call = client.makeServerStreamRequest(
          method.path,
          method.requestSerialize,
          (bytes: Buffer) => {
            if (window.open) window.internalBytes += bytes.length;
            return WatchFleetPositionsResponse.decode(bytes);
          },
          request,
          new grpc.Metadata(),
        );
        signal.addEventListener("abort", () => call.cancel(), { once: true });
        for await (const batch of call as AsyncIterable<WatchFleetPositionsResponse>) {
          if (!window.open) for (const p of batch.positions) seenBefore.add(p.driverId);
          if (window.open)
            for (const p of batch.positions)
              window.perDriver.set(p.driverId, (window.perDriver.get(p.driverId) ?? 0) + 1);
          yield batch;
        }
      }
      let firstMessage = false;
      const consuming = (async () => {
        const stream = watchFleet(
          { watchFleetPositions: fleetPositions, listOfferedTransporters: async () => ["t1", "t2", "t3"] },
          BOX,
          controller.signal,
        );
        for await (const message of stream) {
          firstMessage = true;
          if (!window.open) continue;
          window.consoleBytes += WatchFleetResponse.encode(message).finish().length;
          window.moves += message.moves.length;
        }
      })().catch((error: unknown) => {
        if (!controller.signal.aborted) problems.push(`the fleet stream failed: ${(error as Error).message}`);
      });
      const deadline = Date.now() + 60_000;
      while (!firstMessage && Date.now() < deadline) await sleep(100);
      if (!firstMessage) throw new Error("no snapshot within 60 s");
      await sleep(warmupS * 1000);
      const watched0 = cpu();
      window.open = true;
      const opened = Date.now();
      await sleep(measureS * 1000);
      window.open = false;
      const seconds = (Date.now() - opened) / 1000;
      const watchedCpuPerS = (cpu() - watched0) / seconds;
      controller.abort();
      await consuming;

      const counts = [...window.perDriver.values()];
      const maxPerTruck = counts.length ? Math.max(...counts) / seconds : 0;
      const meanPerTruck = counts.length ? counts.reduce((a, b) => a + b, 0) / counts.length / seconds : 0;
      const consoleBps = window.consoleBytes / seconds;
      const internalBps = window.internalBytes / seconds;
      if (seenBefore.size < DRIVERS * 0.99)
        problems.push(`the snapshot showed ${seenBefore.size} of ${DRIVERS} drivers`);
      return {
        figures: [
          {
            label: "bytes/s to the console (OpsService WatchFleetResponse, encoded)",
            value: round(consoleBps / 1024),
            unit: "KB/s",
            baseline: { label: "tracking's WatchFleetPositions, internal hop", value: round(internalBps / 1024) },
          },
          {
            label: "updates/s per truck, the most updated truck",
            value: round(maxPerTruck, 2),
            unit: "updates/s",
            baseline: { label: "positions published per truck", value: round(1000 / EVERY_MS, 2) },
          },
          { label: "updates/s per truck, mean", value: round(meanPerTruck, 2), unit: "updates/s" },
          { label: "console moves/s", value: round(window.moves / seconds, 0), unit: "moves/s" },
          {
            label: "tracking server CPU with one fleet stream",
            value: round(watchedCpuPerS, 3),
            unit: "CPU-s/s",
            baseline: { label: "same positions on the bus, no watcher", value: round(baselineCpuPerS, 3) },
          },
          {
            label: "tracking server CPU of the fleet stream (difference)",
            value: round(watchedCpuPerS - baselineCpuPerS, 3),
            unit: "CPU-s/s",
          },
        ],
        checks: [
          {
            label: "console receives < 1 MB/s",
            pass: consoleBps < 1024 * 1024,
            detail: `${round(consoleBps / 1024)} KB/s`,
          },
          {
            label: "at most ~1 update/s per truck",
            pass: maxPerTruck <= 1 + 1 / seconds,
            detail: `${round(maxPerTruck, 2)}/s`,
          },
        ],
        notes: [
          `${DRIVERS} drivers in a 0.3° box, each position published on tracking's fleet subject every ${EVERY_MS / 1000} s directly (as tracking's ingest publishes it; the driver streams and filters are tracking-streams' subject), ${seenBefore.size} drivers shown before the window; ${measureS} s windows after ${warmupS} s of warm-up, baseline window first in the same server process.`,
          "Console bytes are the ops service's encoded messages before gRPC/Connect framing and compression (computed in the bench process from tracking's real stream); the ops service itself and the gateway are not in this run.",
        ],
        problems,
      };
    } finally {
      controller.abort();
      raw?.close();
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  },
} satisfies MeasureScenario;
