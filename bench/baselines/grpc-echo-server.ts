/**
 * Baseline of the tracking bench: a raw grpc-js server with the same StreamLocation method
 * and the same protobuf messages, answering each message at once with an ack of its highest
 * sequence number — no auth, no filters, no store: what a bidirectional stream costs here.
 * Env: BENCH_CONTROL_PORT (see scenarios/_tracking-control.ts). Run with --expose-gc.
 */
import * as grpc from "@grpc/grpc-js";
import {
  TrackingServiceService,
  type StreamLocationRequest,
  type StreamLocationResponse,
} from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_service";
import { exitOnSignal } from "../lib/ready.js";
import { startControlServer } from "../scenarios/_tracking-control.js";

let open = 0;
const unimplemented = (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
  callback({ code: grpc.status.UNIMPLEMENTED, details: "echo only" });
const server = new grpc.Server({ "grpc.keepalive_time_ms": 30_000, "grpc.keepalive_timeout_ms": 10_000 });
server.addService(TrackingServiceService as unknown as grpc.ServiceDefinition, {
  streamLocation(call: grpc.ServerDuplexStream<StreamLocationRequest, StreamLocationResponse>) {
    open += 1;
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      open -= 1;
    };
    call.on("data", (request: StreamLocationRequest) => {
      let max = 0;
      for (const point of request.points) if (point.seq > max) max = point.seq;
      call.write({ kind: { $case: "ack", value: { ackedSeq: max, rejected: 0, rejections: [] } } });
    });
    call.on("end", () => {
      close();
      call.end();
    });
    call.on("cancelled", close);
    call.on("error", close);
  },
  updateLocation: unimplemented,
  getLocation: unimplemented,
  watchLocation: (call: grpc.ServerWritableStream<unknown, unknown>) =>
    call.emit("error", { code: grpc.status.UNIMPLEMENTED, details: "echo only" }),
  getTripPath: unimplemented,
});
await startControlServer(Number(process.env.BENCH_CONTROL_PORT), () => open);
const port = await new Promise<number>((resolve, reject) =>
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
    error ? reject(error) : resolve(bound),
  ),
);
exitOnSignal(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));
process.stdout.write(`READY port=${port}\n`);
