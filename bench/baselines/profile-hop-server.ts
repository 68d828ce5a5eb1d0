/**
 * The service side of gateway-transport-compare: identity's ProfileService.GetMe answered with
 * one fixed account, and nothing else (no auth, no database), so that only the hop differs.
 * - a @grpc/grpc-js server with the generated service definition (ts-proto, as identity serves
 *   it), on TRANSPORT_GRPC_PORT's answer: the target of the grpc-js client and of connect-node's
 *   gRPC transport in binary;
 * - a connect-node server over HTTP/2 cleartext with the same service (protoc-gen-es), for the
 *   JSON transports: grpc-js cannot decode JSON (its deserializer is the binary protobuf one),
 *   so JSON on the hop would need the services to serve through connect-node.
 * Prints `READY port=<grpc port>` and `CONNECT port=<connect port>`.
 */
import { createServer } from "node:http2";
import { create } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import {
  ProfileService as ProfileServiceEs,
  GetMeResponseSchema,
} from "@weelo/contracts/es/weelo/identity/v1/profile_service_pb";
import { Language as LanguageEs, Role as RoleEs } from "@weelo/contracts/es/weelo/common/v1/common_pb";
import { UserSchema } from "@weelo/contracts/es/weelo/identity/v1/identity_pb";
import { Language, Role } from "@weelo/contracts/grpc/weelo/common/v1/common";
import type { User } from "@weelo/contracts/grpc/weelo/identity/v1/identity";
import { ProfileServiceService } from "@weelo/contracts/grpc/weelo/identity/v1/profile_service";
import { exitOnSignal } from "../lib/ready.js";

const at = new Date("2026-11-02T09:30:00Z");
/** One customer's account, as identity returns it. */
const USER: User = {
  id: "01937a4e-8f2c-7d3b-9a61-4c2e8b7f1d05",
  phone: "+919876500001",
  role: Role.ROLE_CUSTOMER,
  name: "Anil Shinde",
  email: "anil.shinde@example.in",
  companyName: "",
  gstin: "",
  language: Language.LANGUAGE_HINDI,
  transporterId: "",
  createdAt: at,
  updatedAt: at,
};

const grpcServer = new grpc.Server();
grpcServer.addService(ProfileServiceService, {
  getMe: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) =>
    callback(null, { user: USER }),
  updateProfile: (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
    callback({ code: grpc.status.UNIMPLEMENTED }),
  registerDevice: (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
    callback({ code: grpc.status.UNIMPLEMENTED }),
  unregisterDevice: (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
    callback({ code: grpc.status.UNIMPLEMENTED }),
} as grpc.UntypedServiceImplementation);
const grpcPort = await new Promise<number>((resolve, reject) =>
  grpcServer.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) =>
    error ? reject(error) : resolve(port),
  ),
);

const seconds = BigInt(Math.floor(at.getTime() / 1000));
const response = create(GetMeResponseSchema, {
  user: create(UserSchema, {
    ...USER,
    role: RoleEs.CUSTOMER,
    language: LanguageEs.HINDI,
    createdAt: { seconds, nanos: 0 },
    updatedAt: { seconds, nanos: 0 },
  }),
});
const routes = (router: ConnectRouter) => router.service(ProfileServiceEs, { getMe: () => response });
const h2 = createServer(connectNodeAdapter({ routes }));
await new Promise<void>((resolve) => h2.listen(0, "127.0.0.1", resolve));
const connectPort = (h2.address() as { port: number }).port;

exitOnSignal(async () => {
  grpcServer.forceShutdown();
  h2.close();
});
process.stdout.write(`CONNECT port=${connectPort}\n`);
process.stdout.write(`READY port=${grpcPort}\n`);
