/**
 * A fake upstream for running one service alone: a real grpc-js server on an ephemeral loopback
 * port whose handlers the test supplies, in the manner of connect-es's createRouterTransport but
 * over a real socket, so the service under test goes through its own client, deadlines and error
 * mapping. Given the service's mesh, it serves over mutual TLS as the service whose contract it
 * plays (the caller checks that name), as the real one would; without, plaintext.
 *
 * A handler returns the response or throws: a DomainError (its code, reason and field reach the
 * caller as the real service would send them) or anything else (INTERNAL). A method the test gave
 * no handler answers UNIMPLEMENTED, so an unexpected call is seen, not silently answered.
 * `stop()` takes the upstream down (connections reset, later calls UNAVAILABLE); a new fake on the
 * same `port` brings it back at the address the service already holds.
 */
import * as grpc from "@grpc/grpc-js";
import { GrpcCode } from "@weelo/errors";
import { identityOf, type Mesh, type MethodDefinition, type ServiceDefinition, toStatusObject } from "@weelo/grpc";

type RequestOf<M> = M extends MethodDefinition<infer Req, unknown> ? Req : never;
type ResponseOf<M> = M extends MethodDefinition<unknown, infer Res> ? Res : never;

/** What a fake handler sees of a call besides its request. */
export interface FakeCall {
  metadata: grpc.Metadata;
  /** The calling service named by its mesh certificate (mesh fakes only). */
  caller: string | undefined;
}

/** Unary methods answer once; server-streaming ones yield their messages. */
export type FakeHandler<M> = M extends { requestStream: false; responseStream: true }
  ? (request: RequestOf<M>, call: FakeCall) => AsyncIterable<ResponseOf<M>>
  : (request: RequestOf<M>, call: FakeCall) => ResponseOf<M> | Promise<ResponseOf<M>>;

export type FakeHandlers<D extends ServiceDefinition> = { [K in keyof D]?: FakeHandler<D[K]> };

export interface FakeService {
  definition: ServiceDefinition;
  handlers: Record<string, ((request: unknown, call: FakeCall) => unknown) | undefined>;
}

/** One contract the fake plays, with the handlers of the methods the test expects to be called. */
export function fakeService<D extends ServiceDefinition>(definition: D, handlers: FakeHandlers<D>): FakeService {
  return { definition, handlers: handlers as FakeService["handlers"] };
}

export interface FakeUpstream {
  /** host:port to give the service under test (its *_GRPC_URL). */
  address: string;
  port: number;
  /** Method names ("RedeemQuote") in the order they were called. */
  calls: string[];
  /** Takes the upstream down: open calls are cancelled and new ones find nothing listening. */
  stop(): Promise<void>;
}

export async function startFakeUpstream(
  services: readonly FakeService[],
  options: { mesh?: Mesh; port?: number } = {},
): Promise<FakeUpstream> {
  const server = new grpc.Server();
  const calls: string[] = [];
  const identities = new Set<string>();
  for (const { definition, handlers } of services) {
    identities.add(identityOf(definition));
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const [name, method] of Object.entries(definition)) {
      const methodName = method.path.split("/")[2]!;
      const handler = handlers[name];
      implementation[name] = method.responseStream
        ? streamHandler(methodName, handler, calls, options.mesh)
        : unaryHandler(methodName, handler, calls, options.mesh);
    }
    server.addService(definition as unknown as grpc.ServiceDefinition, implementation);
  }
  const credentials = options.mesh
    ? await options.mesh.serverCredentials([...identities])
    : grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, credentials, (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    address: `127.0.0.1:${port}`,
    port,
    calls,
    async stop() {
      server.forceShutdown();
    },
  };
}

function callOf(call: grpc.ServerUnaryCall<unknown, unknown>, mesh: Mesh | undefined): FakeCall {
  return { metadata: call.metadata, caller: mesh?.callerOf(call) };
}

function unimplemented(method: string): Partial<grpc.StatusObject> {
  return { code: GrpcCode.UNIMPLEMENTED as number, details: `the fake upstream has no handler for ${method}` };
}

function unaryHandler(
  method: string,
  handler: FakeService["handlers"][string],
  calls: string[],
  mesh: Mesh | undefined,
): grpc.handleUnaryCall<unknown, unknown> {
  return (call, callback) => {
    calls.push(method);
    if (!handler) return callback(unimplemented(method));
    Promise.resolve()
      .then(() => handler(call.request, callOf(call, mesh)))
      .then(
        (response) => callback(null, response),
        (error: unknown) => callback(toStatusObject(error)),
      );
  };
}

function streamHandler(
  method: string,
  handler: FakeService["handlers"][string],
  calls: string[],
  mesh: Mesh | undefined,
): grpc.handleServerStreamingCall<unknown, unknown> {
  return async (call) => {
    calls.push(method);
    if (!handler) return void call.emit("error", unimplemented(method));
    try {
      for await (const message of handler(call.request, callOf(call, mesh)) as AsyncIterable<unknown>) {
        if (call.cancelled) return;
        call.write(message);
      }
      call.end();
    } catch (error) {
      call.emit("error", toStatusObject(error));
    }
  };
}
