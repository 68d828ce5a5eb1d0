/**
 * Which client transport should carry the gateway → service hop? A GetMe-shaped unary call
 * (identity's ProfileService.GetMe, its generated code, one fixed account; no auth, no
 * database) through each transport the design could use, against the same servers, one after
 * another in fresh worker processes, with the same calls in flight (BENCH_CONNECTIONS):
 *
 *   grpc-js                       @grpc/grpc-js client (ts-proto) → grpc-js server: the hop the gateway uses today, and the baseline
 *   connect-grpc-binary           connect-node createGrpcTransport (HTTP/2, protobuf binary) → the same grpc-js server
 *   connect-grpc-binary@connect   the same transport → a connect-node HTTP/2 server (what a switch of the services too would give)
 *   connect-grpc-json             createGrpcTransport with JSON (application/grpc+json) → the connect-node server
 *   connect-json                  createConnectTransport over HTTP/2 with JSON (the Connect protocol) → the connect-node server
 *
 * grpc-js cannot decode JSON (its deserializer is the binary protobuf one), so the JSON
 * transports need the connect-node server (bench/baselines/profile-hop-server.ts serves both).
 * Figures per transport: calls/s, p99, and the client's CPU per call (the gateway's side of the
 * hop), each beside grpc-js's; and the server's CPU per call.
 */
import { liveChildPids, startChild } from "../lib/child.js";
import { treeCpuSeconds } from "../lib/cpu.js";
import { defaultLoadSettings } from "../lib/load.js";
import type { MeasureFigure, MeasureResult, MeasureScenario } from "../lib/scenario.js";
import { startWorkers } from "../lib/workers.js";
import type { Transport, TransportLoadInput, TransportLoadResult } from "./_transport-load.js";

const TRANSPORTS: Transport[] = [
  "grpc-js",
  "connect-grpc-binary",
  "connect-grpc-binary@connect",
  "connect-grpc-json",
  "connect-json",
];

const serverCpuSeconds = () => liveChildPids().reduce((sum, pid) => sum + (treeCpuSeconds(pid) ?? 0), 0);

export default {
  name: "gateway-transport-compare",
  description:
    "the gateway → service hop (GetMe-shaped unary) through grpc-js, connect-node gRPC binary and JSON, and Connect JSON",
  async measure(): Promise<MeasureResult> {
    const server = await startChild({ name: "profile-hop-server", script: "bench/baselines/profile-hop-server.ts" });
    try {
      const connectPort = /CONNECT port=(\d+)/.exec(server.recentOutput())?.[1];
      if (!connectPort) throw new Error("the profile hop server printed no CONNECT port");
      const settings = defaultLoadSettings();
      const results = new Map<Transport, TransportLoadResult & { serverCpuUsPerCall: number }>();
      const problems: string[] = [];
      for (const transport of TRANSPORTS) {
        const input: TransportLoadInput = {
          transport,
          grpcAddress: `127.0.0.1:${server.port}`,
          connectUrl: `http://127.0.0.1:${connectPort}`,
          concurrency: settings.connections,
          warmupMs: settings.warmupS * 1000,
          measureMs: (settings.durationS - settings.warmupS) * 1000,
        };
        const pool = startWorkers<TransportLoadInput, TransportLoadResult>(
          "bench/scenarios/_transport-load.ts",
          1,
          () => input,
        );
        // The server's CPU over the measured window (sampled from here, as gateway-overload does).
        const cpu: number[] = [];
        const timers = [input.warmupMs, input.warmupMs + input.measureMs].map((ms) =>
          setTimeout(() => cpu.push(serverCpuSeconds()), ms + 300),
        );
        try {
          const [result] = await pool.results;
          if (!result) throw new Error("the worker gave no result");
          const serverCpuS = cpu.length === 2 ? cpu[1]! - cpu[0]! : Number.NaN;
          results.set(transport, { ...result, serverCpuUsPerCall: (serverCpuS * 1e6) / Math.max(1, result.calls) });
          if (result.errors > 0)
            problems.push(`${transport}: ${result.errors} failed calls (first: ${result.firstError})`);
        } finally {
          for (const timer of timers) clearTimeout(timer);
          pool.kill();
        }
      }
      const base = results.get("grpc-js")!;
      const figures: MeasureFigure[] = [];
      for (const [transport, r] of results) {
        const beside = (value: number) => (transport === "grpc-js" ? {} : { baseline: { label: "grpc-js", value } });
        figures.push(
          { label: `${transport}: calls/s`, value: r.callsPerS, unit: "calls/s", ...beside(base.callsPerS) },
          { label: `${transport}: p99`, value: r.p99Ms, unit: "ms", ...beside(base.p99Ms) },
          {
            label: `${transport}: client CPU per call`,
            value: r.clientCpuUsPerCall,
            unit: "µs",
            ...beside(base.clientCpuUsPerCall),
          },
          {
            label: `${transport}: server CPU per call`,
            value: r.serverCpuUsPerCall,
            unit: "µs",
            ...beside(base.serverCpuUsPerCall),
          },
        );
      }
      const cheapest = [...results].sort((a, b) => a[1].clientCpuUsPerCall - b[1].clientCpuUsPerCall)[0]!;
      const fastest = [...results].sort((a, b) => b[1].callsPerS - a[1].callsPerS)[0]!;
      return {
        figures,
        // Informational: which transport is cheapest on the gateway's side in this run.
        checks: [
          {
            label: "grpc-js is the cheapest client per call (the gateway keeps it)",
            pass: cheapest[0] === "grpc-js",
            detail: `cheapest client: ${cheapest[0]} (${cheapest[1].clientCpuUsPerCall.toFixed(0)} µs/call); most calls/s: ${fastest[0]} (${fastest[1].callsPerS.toFixed(0)}/s)`,
          },
        ],
        notes: [
          `${settings.connections} calls in flight per transport, ${settings.durationS - settings.warmupS} s measured after ${settings.warmupS} s of warm-up, one worker process each, plaintext (mutual TLS costs every transport the same record encryption)`,
          "client CPU per call: the worker process's CPU over the measured window / calls (what the gateway pays for the hop); server CPU per call: the server process's, over the same window",
        ],
        problems,
      };
    } finally {
      await server.stop();
    }
  },
} satisfies MeasureScenario;
