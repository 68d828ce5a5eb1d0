/**
 * Reference floor for any gateway in this design: the bare Connect echo, except that the
 * handler forwards the message over one gRPC hop (a @grpc/grpc-js client on a long-lived
 * channel) to a bare @grpc/grpc-js echo server in the same process. No auth, no
 * interceptors, no logging, no database: what Connect + one grpc-js hop cost by themselves,
 * so a gateway scenario can be read as "floor + our work".
 *
 * HOP_SECURITY chooses how the hop is secured (the only difference between the two floors):
 * - `plaintext` (default): insecure credentials on both sides (scenario connect-grpc-hop);
 * - `mtls`: mutual TLS with mesh certificates, as every gateway → service call is (scenario
 *   connect-grpc-hop-mtls): a Mesh with an in-memory CA, the server serving the identity "echo"
 *   and demanding a client certificate, the client calling as "gateway" and checking the server
 *   names "echo". With mtls the TLS handshakes the hop server completed are printed at exit
 *   (`TLS handshakes=N resumed=R hop calls=M`), to show they stay at one per channel.
 *
 * Run in a child process by bench/scenarios/connect-grpc-hop*.ts; prints `READY port=N`.
 */
import { createServer } from "node:http";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import {
  EchoRequestSchema,
  EchoResponseSchema,
  EchoService,
  type EchoRequest,
  type EchoResponse,
} from "./echo-service.js";
import { announceReady, exitOnSignal } from "../lib/ready.js";
import { countTlsHandshakes, printHandshakesAtExit } from "../lib/tls-handshakes.js";

const security = process.env.HOP_SECURITY ?? "plaintext";
if (security !== "plaintext" && security !== "mtls")
  throw new Error(`HOP_SECURITY must be plaintext or mtls, not ${security}`);

let serverCredentials = grpc.ServerCredentials.createInsecure();
let channelCredentials = grpc.credentials.createInsecure();
let channelOptions: grpc.ChannelOptions = {};
let hopCalls = 0;
if (security === "mtls") {
  printHandshakesAtExit(countTlsHandshakes(), () => ` hop calls=${hopCalls}`);
  // Imported only here, so the plaintext floor loads exactly what it always did.
  const { Mesh, CHANNEL_OPTIONS } = await import("@weelo/grpc");
  const mesh = await Mesh.create(
    { MESH_TRUST_DOMAIN: "weelo", MESH_CERT_REFRESH_MS: 60_000, DATA_DIR: "" },
    { allowDevelopmentCa: false, inMemoryCa: true },
  );
  serverCredentials = await mesh.serverCredentials(["echo"]);
  channelCredentials = mesh.channelCredentials("gateway", "echo");
  // The one TLS-only channel option the gateway's channels set (a fixed SNI instead of an IP address).
  channelOptions = { "grpc.ssl_target_name_override": CHANNEL_OPTIONS["grpc.ssl_target_name_override"] };
}

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
  {
    echo: (call: grpc.ServerUnaryCall<EchoRequest, EchoResponse>, callback: grpc.sendUnaryData<EchoResponse>) => {
      hopCalls++;
      callback(null, create(EchoResponseSchema, { message: call.request.message }));
    },
  },
);
const grpcPort = await new Promise<number>((resolve, reject) =>
  grpcServer.bindAsync("127.0.0.1:0", serverCredentials, (error, port) => (error ? reject(error) : resolve(port))),
);
const client = new grpc.Client(`127.0.0.1:${grpcPort}`, channelCredentials, channelOptions);
// Connect (and, with mtls, handshake) before announcing READY: the mesh certificates are issued
// asynchronously, and the first measured request should not pay for the connection.
await new Promise<void>((resolve, reject) =>
  client.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve())),
);

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
