/**
 * Promise clients over ts-proto definitions for service-to-service calls. Every call has a
 * deadline (the caller's remaining time when it has one, else the default), forwards the
 * request id and the caller's authorization, and turns statuses back into DomainErrors.
 * One client (one HTTP/2 channel) per target, kept for the life of the process.
 */
import * as grpc from "@grpc/grpc-js";
import { codeName, DomainError, GrpcCode } from "@weelo/errors";
import { currentContext } from "@weelo/log";
import type { Metrics } from "@weelo/metrics";
import {
  failSpan,
  headersOfSpan,
  SpanKind,
  startSpan,
  traceHeaders,
  tracingEnabled,
  type Span,
} from "@weelo/telemetry";
import type { Mesh } from "./mesh/mesh.js";
import { fromServiceError } from "./status.js";
import { splitPath, type MethodDefinition, type ServiceDefinition } from "./service.js";

export interface CallOptions {
  /** Deadline for this call in ms from now; capped by the incoming call's remaining time. */
  deadlineMs?: number;
  /** Extra metadata; "authorization" here replaces the forwarded one. */
  metadata?: Record<string, string>;
  signal?: AbortSignal;
}

type RequestOf<M> = M extends MethodDefinition<infer Req, unknown> ? Req : never;
type ResponseOf<M> = M extends MethodDefinition<unknown, infer Res> ? Res : never;

export type ClientMethod<M> = M extends { requestStream: false; responseStream: false }
  ? (request: RequestOf<M>, options?: CallOptions) => Promise<ResponseOf<M>>
  : M extends { requestStream: false; responseStream: true }
    ? (request: RequestOf<M>, options?: CallOptions) => AsyncIterable<ResponseOf<M>>
    : never;

export type ServiceClient<D extends ServiceDefinition> = { [K in keyof D]: ClientMethod<D[K]> } & {
  /** The underlying grpc-js client, for bidirectional streams and readiness waits. */
  readonly raw: grpc.Client;
  close(): void;
};

export interface ClientOptions {
  /** Default deadline of each call (ms). */
  deadlineMs: number;
  /**
   * How the channel is secured: a mesh client's certificate (`platform.mesh.channelCredentials(caller, target)`)
   * for every internal call; plaintext only for the public listener (local tools and tests).
   */
  credentials?: grpc.ChannelCredentials;
  metrics?: Metrics;
  channelOptions?: grpc.ChannelOptions;
}

/**
 * Channel options every internal client uses. Calls are spread round robin over every address
 * the target resolves to: with `dns:///<headless service>:50051` (Kubernetes) that is every
 * ready replica, where the default pick_first would send everything down one connection.
 */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  "grpc.keepalive_time_ms": 30_000,
  // Mesh certificates carry SPIFFE IDs, not host names (checked by the credentials): a fixed TLS
  // server name keeps Node from sending an IP address as SNI, which RFC 6066 forbids.
  "grpc.ssl_target_name_override": "weelo-mesh",
  "grpc.keepalive_timeout_ms": 10_000,
  "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
  // A lost connection is tried again after 250 ms, the wait growing to 5 s at most (grpc-js
  // multiplies by 1.6 and adds ±20% jitter, so the callers of a restarted replica do not all come
  // back in the same instant); the defaults (1 s, then up to 2 minutes) kept a channel away from a
  // replica long after it was back.
  "grpc.initial_reconnect_backoff_ms": 250,
  "grpc.max_reconnect_backoff_ms": 5000,
  // A dns:/// target is resolved again when a connection drops, at most every 5 s (default 30 s):
  // the addresses of a restarted or added pod are found on the next reconnect.
  "grpc.dns_min_time_between_resolutions_ms": 5000,
  // Nothing here serves channelz (grpc's introspection service); its trackers count every call
  // and message of the channel, subchannel and transport all the same.
  "grpc.enable_channelz": 0,
};

export function createClient<D extends ServiceDefinition>(
  definition: D,
  address: string,
  options: ClientOptions,
): ServiceClient<D> {
  const raw = new grpc.Client(address, options.credentials ?? grpc.credentials.createInsecure(), {
    ...CHANNEL_OPTIONS,
    ...options.channelOptions,
  });
  const client: Record<string, unknown> = { raw, close: () => raw.close() };
  for (const [name, method] of Object.entries(definition)) {
    if (method.requestStream) continue; // client and bidi streams: use `raw` directly
    client[name] = method.responseStream ? serverStreamCall(raw, method) : unaryCall(raw, method, options);
  }
  return client as ServiceClient<D>;
}

/** The mesh identity that serves a contract: the domain of its package (weelo.booking.v1.BookingDispatchService → booking). */
export function identityOf(definition: ServiceDefinition): string {
  const first = Object.values(definition)[0];
  if (!first) throw new Error("a service needs at least one method");
  return splitPath(first.path)[0].split(".")[1]!;
}

/**
 * A client of another service over the mesh: mutual TLS as `caller`, and the server must prove it
 * is the service that owns the contract.
 */
export function createMeshClient<D extends ServiceDefinition>(
  definition: D,
  address: string,
  options: Omit<ClientOptions, "credentials"> & { mesh: Mesh; caller: string },
): ServiceClient<D> {
  const { mesh, caller, ...rest } = options;
  return createClient(definition, address, {
    ...rest,
    credentials: mesh.channelCredentials(caller, identityOf(definition)),
  });
}

function unaryCall(raw: grpc.Client, method: MethodDefinition<unknown, unknown>, options: ClientOptions) {
  const [service, methodName] = splitPath(method.path);
  return (request: unknown, callOptions: CallOptions = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const end = options.metrics?.rpcClientDuration.startTimer({ service, method: methodName });
      const deadline = deadlineFor(callOptions, options.deadlineMs);
      const span = tracingEnabled() ? clientSpan(service, methodName) : undefined;
      const call = raw.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        outgoingMetadata(callOptions, span),
        { deadline },
        (error, response) => {
          end?.({ code: error ? codeName(error.code) : "OK" });
          if (span) endClientSpan(span, error);
          if (error) reject(fromServiceError(error));
          else resolve(response);
        },
      );
      callOptions.signal?.addEventListener("abort", () => call.cancel(), { once: true });
    });
}

function serverStreamCall(raw: grpc.Client, method: MethodDefinition<unknown, unknown>) {
  return async function* (request: unknown, callOptions: CallOptions = {}): AsyncIterable<unknown> {
    // Streams live long: only an explicit deadline applies, not the unary default.
    const deadline =
      callOptions.deadlineMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + callOptions.deadlineMs;
    const [service, methodName] = splitPath(method.path);
    const span = tracingEnabled() ? clientSpan(service, methodName) : undefined;
    const call = raw.makeServerStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      outgoingMetadata(callOptions, span),
      { deadline },
    );
    const cancel = () => call.cancel();
    callOptions.signal?.addEventListener("abort", cancel, { once: true });
    let failure: grpc.ServiceError | null = null;
    try {
      for await (const message of call) yield message;
    } catch (error) {
      failure = error as grpc.ServiceError;
      throw fromServiceError(error);
    } finally {
      if (span) endClientSpan(span, failure);
      callOptions.signal?.removeEventListener("abort", cancel);
      call.cancel();
    }
  };
}

/**
 * The request id, the caller's authorization, the W3C trace context (of the call's own client
 * span when given, else of the active span; nothing when tracing is off) and any extra metadata.
 */
export function outgoingMetadata(callOptions: CallOptions = {}, span?: Span): grpc.Metadata {
  const metadata = new grpc.Metadata();
  const context = currentContext();
  if (context?.requestId) metadata.set("x-request-id", context.requestId);
  if (context?.authorization) metadata.set("authorization", context.authorization);
  if (tracingEnabled()) {
    for (const [key, value] of Object.entries(span ? headersOfSpan(span) : traceHeaders())) metadata.set(key, value);
  }
  for (const [key, value] of Object.entries(callOptions.metadata ?? {})) metadata.set(key, value);
  return metadata;
}

/** A CLIENT span for one outgoing call, child of the active span (the call being served). */
function clientSpan(service: string, method: string): Span | undefined {
  return startSpan({
    name: `${service}/${method}`,
    kind: SpanKind.CLIENT,
    attributes: { "rpc.system": "grpc", "rpc.service": service, "rpc.method": method },
  });
}

function endClientSpan(span: Span, error: grpc.ServiceError | null): void {
  span.setAttribute("rpc.grpc.status_code", error ? error.code : 0);
  if (error) failSpan(span, error);
  span.end();
}

/** The earlier of the default deadline and what is left of the incoming call's. */
export function deadlineFor(callOptions: CallOptions, defaultMs: number): number {
  const own = Date.now() + (callOptions.deadlineMs ?? defaultMs);
  const inherited = currentContext()?.deadline;
  const deadline = inherited === undefined ? own : Math.min(own, inherited);
  if (deadline <= Date.now()) {
    throw new DomainError(GrpcCode.DEADLINE_EXCEEDED, "no time is left for this call");
  }
  return deadline;
}
