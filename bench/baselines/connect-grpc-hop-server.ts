/**
 * Reference floor for any gateway in this design: the bare Connect echo, except that the
 * handler forwards the message over one gRPC hop (a @grpc/grpc-js client on a long-lived
 * channel) to a bare @grpc/grpc-js echo server in the same process. No auth, no
 * interceptors, no logging, no database: what Connect + one grpc-js hop cost by themselves,
 * so a gateway scenario can be read as "floor + our work".
 *
 * Run in a child process by bench/scenarios/connect-grpc-hop.ts; prints `READY port=N`.
 */
import { createServer } from "node:http";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { EchoRequestSchema, EchoResponseSchema, EchoService, type EchoRequest, type EchoResponse } from "./echo-service.js";
import { announceReady, exitOnSignal } from "../lib/ready.js";

const PATH = "/weelo.bench.v1.EchoService/Echo";
const grpcServer = new grpc.Server();
grpcServer.addService(
  {
    echo: {
      path: PATH,
      requestStream: false,
      responseStream: false,
      requestDeserialize: (bytes: Buffer) => fromBinary(EchoRequestSchema, bytes),
      responseSerialize: (value: EchoResponse) => Buffer.from(toBinary(EchoResponseSchema, value)),
      requestSerialize: (value: EchoRequest) => Buffer.from(toBinary(EchoRequestSchema, value)),
      responseDeserialize: (bytes: Buffer) => fromBinary(EchoResponseSchema, bytes),
    },
  } as grpc.ServiceDefinition,
  { echo: (call: grpc.ServerUnaryCall<EchoRequest, EchoResponse>, callback: grpc.sendUnaryData<EchoResponse>) => callback(null, create(EchoResponseSchema, { message: call.request.message })) },
);
const grpcPort = await new Promise<number>((resolve, reject) =>
  grpcServer.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))),
);
const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());

const routes = (router: ConnectRouter) => {
  router.service(EchoService, {
    echo: (req) =>
      new Promise((resolve, reject) =>
        client.makeUnaryRequest(
          PATH,
          (value: EchoRequest) => Buffer.from(toBinary(EchoRequestSchema, value)),
          (bytes: Buffer) => fromBinary(EchoResponseSchema, bytes),
          req,
          new grpc.Metadata(),
          { deadline: Date.now() + 10_000 },
          (error, response) => (error || !response ? reject(error) : resolve(response)),
        ),
      ),
  });
};

const server = createServer(connectNodeAdapter({ routes }));
server.listen(0, "127.0.0.1", () => announceReady(server));
exitOnSignal(async () => {
  client.close();
  grpcServer.forceShutdown();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
