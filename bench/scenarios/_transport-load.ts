/**
 * Worker of gateway-transport-compare: one client transport, `concurrency` GetMe calls in
 * flight (closed loop), warm-up then a measured window; reports calls/s, latency percentiles,
 * errors and this process's CPU per call (what the gateway would pay on its side of the hop).
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { ProfileService } from "@weelo/contracts/es/weelo/identity/v1/profile_service_pb";
import { ProfileServiceClient } from "@weelo/contracts/grpc/weelo/identity/v1/profile_service";
import { percentile, runWorker } from "../lib/workers.js";

export type Transport =
  | "grpc-js"
  | "connect-grpc-binary"
  | "connect-grpc-binary@connect"
  | "connect-grpc-json"
  | "connect-json";

export interface TransportLoadInput {
  transport: Transport;
  /** host:port of the grpc-js server. */
  grpcAddress: string;
  /** http://host:port of the connect-node HTTP/2 server (the JSON transports' target). */
  connectUrl: string;
  concurrency: number;
  warmupMs: number;
  measureMs: number;
}

export interface TransportLoadResult {
  calls: number;
  callsPerS: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  firstError: string | null;
  clientCpuUsPerCall: number;
}

function caller(input: TransportLoadInput): { call: () => Promise<unknown>; close: () => void } {
  if (input.transport === "grpc-js") {
    const client = new ProfileServiceClient(input.grpcAddress, grpc.credentials.createInsecure());
    return {
      call: () =>
        new Promise((resolve, reject) =>
          client.getMe({}, (error, response) => (error ? reject(error) : resolve(response))),
        ),
      close: () => client.close(),
    };
  }
  const transport =
    input.transport === "connect-json"
      ? createConnectTransport({ baseUrl: input.connectUrl, httpVersion: "2", useBinaryFormat: false })
      : createGrpcTransport({
          baseUrl: input.transport === "connect-grpc-binary" ? `http://${input.grpcAddress}` : input.connectUrl,
          useBinaryFormat: input.transport !== "connect-grpc-json",
        });
  const client = createClient(ProfileService, transport);
  return { call: () => client.getMe({}), close: () => undefined };
}

await runWorker<TransportLoadInput, TransportLoadResult>(async (input) => {
  const { call, close } = caller(input);
  await call(); // connected, and the answer is a GetMe answer (throws otherwise)
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  let measuring = false;
  let stop = false;
  const loop = async () => {
    while (!stop) {
      const started = performance.now();
      try {
        await call();
        if (measuring) latencies.push(performance.now() - started);
      } catch (error) {
        errors++;
        firstError ??= (error as Error).message;
      }
    }
  };
  const loops = Array.from({ length: input.concurrency }, loop);
  await new Promise((resolve) => setTimeout(resolve, input.warmupMs));
  measuring = true;
  const cpuBefore = process.cpuUsage();
  const at = performance.now();
  await new Promise((resolve) => setTimeout(resolve, input.measureMs));
  measuring = false;
  const cpu = process.cpuUsage(cpuBefore);
  const elapsedS = (performance.now() - at) / 1000;
  stop = true;
  await Promise.all(loops);
  close();
  const calls = latencies.length;
  return {
    calls,
    callsPerS: calls / elapsedS,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    errors,
    firstError,
    clientCpuUsPerCall: calls > 0 ? (cpu.user + cpu.system) / calls : Number.NaN,
  };
});
