/**
 * Generic forwarding: every method of every public service is served by calling the same
 * method on the owning service over the mesh with @grpc/grpc-js (one long-lived mutual-TLS
 * channel per upstream, the gateway's certificate proving the caller). Messages cross as protobuf binary, encoded and decoded with the same descriptors
 * the router uses, so no method is written by hand. The deadline, request id, client IP and
 * caller's authorization travel downstream; statuses come back as DomainErrors, and a stream
 * the upstream tore (it died or reset it mid-way) as UNAVAILABLE, which clients retry.
 */
import {
  fromBinary,
  ScalarType,
  toBinary,
  type DescMessage,
  type DescMethod,
  type DescService,
  type MessageShape,
} from "@bufbuild/protobuf";
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { InvalidArgumentError, type DomainError } from "@weelo/errors";
import { CHANNEL_OPTIONS, fromServiceError } from "@weelo/grpc";
import { clientIpKey, requestIdKey } from "./context-keys.js";
import { endForwardSpan, forwardSpan } from "./tracing.js";
import { undecodableAsInvalidArgument } from "./undecodable-request.js";
import type { PublicService, UpstreamName } from "./upstreams.js";

export interface ForwardHeaders {
  authorization: string | null;
  requestId: string;
  clientIp: string;
}

/** What a call of one method needs that does not change from call to call: made once per method. */
interface UpstreamMethod {
  client: grpc.Client;
  path: string;
  deserialize: (bytes: Buffer) => unknown;
}

// biome-ignore lint/suspicious/noExplicitAny: grpc-js's writable streams take the serializer of any request type
const alreadyEncoded = (ready: any): Buffer => ready; // messages are encoded before grpc-js sees them (see encode)

export class Forwarder {
  private readonly channels: Map<UpstreamName, grpc.Client>;
  private readonly upstreamOf = new Map<string, grpc.Client>();
  private readonly methods = new Map<DescMethod, UpstreamMethod>();

  /** `credentialsFor`: the gateway's mesh client credentials for an upstream (mutual TLS, the server must prove it is that service). */
  constructor(
    services: readonly PublicService[],
    addresses: Record<UpstreamName, string>,
    private readonly defaultDeadlineMs: number,
    credentialsFor: (upstream: UpstreamName) => grpc.ChannelCredentials,
  ) {
    this.channels = new Map(
      Object.entries(addresses).map(([name, address]) => [
        name as UpstreamName,
        // Round robin over every replica the address resolves to (see CHANNEL_OPTIONS).
        new grpc.Client(address, credentialsFor(name as UpstreamName), CHANNEL_OPTIONS),
      ]),
    );
    for (const { service, upstream } of services) this.upstreamOf.set(service.typeName, this.channels.get(upstream)!);
  }

  /** Registers every method of every service on the router. */
  register(router: ConnectRouter, services: readonly PublicService[]): void {
    for (const { service } of services) {
      const implementation: Record<string, unknown> = {};
      for (const method of service.methods) {
        implementation[method.localName] = (input: unknown, ctx: HandlerContext) =>
          this.call(service, method, input, headersOf(ctx), ctx.timeoutMs(), ctx.signal);
      }
      router.service(service, implementation as Parameters<ConnectRouter["service"]>[1]);
    }
  }

  /**
   * Calls the upstream method: a promise for unary and client-streaming methods, an async
   * iterable for server-streaming and bidirectional ones. A unary call gets the caller's
   * remaining time, capped by the default; streams only the caller's own deadline.
   */
  call(
    service: DescService,
    method: DescMethod,
    input: unknown,
    forward: ForwardHeaders,
    callerTimeoutMs: number | undefined,
    signal: AbortSignal,
    // biome-ignore lint/suspicious/noExplicitAny: one forwarder for every method: a promise or an async iterable of that method's messages, checked by Connect at runtime
  ): any {
    const { client, path, deserialize } = this.upstreamMethod(service, method);
    const serialize = alreadyEncoded;
    const metadata = new grpc.Metadata();
    metadata.set("x-request-id", forward.requestId);
    metadata.set("x-forwarded-for", forward.clientIp);
    if (forward.authorization) metadata.set("authorization", forward.authorization);
    const span = forwardSpan(service.typeName, method.name, metadata); // undefined unless tracing is on
    const unaryTimeout = Math.min(callerTimeoutMs ?? this.defaultDeadlineMs, this.defaultDeadlineMs);
    const streamDeadline = callerTimeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + callerTimeoutMs;

    switch (method.methodKind) {
      case "unary": {
        // Encoded here, not inside grpc-js (which would report a failure as INTERNAL).
        return new Promise((resolve, reject) => {
          const bytes = encode(method, input); // a throw here rejects
          // Connect aborts the signal of every call once it is answered: the listener goes with the answer.
          const onAbort = () => call.cancel();
          const call = client.makeUnaryRequest(
            path,
            serialize,
            deserialize,
            bytes as never,
            metadata,
            { deadline: Date.now() + unaryTimeout },
            (error, response) => {
              signal.removeEventListener("abort", onAbort);
              if (error) reject(fromServiceError(error));
              else resolve(response);
            },
          );
          endForwardSpan(span, call);
          signal.addEventListener("abort", onAbort, { once: true });
        });
      }
      case "client_streaming":
        return new Promise((resolve, reject) => {
          let inputError: unknown;
          const call = client.makeClientStreamRequest(
            path,
            serialize,
            deserialize,
            metadata,
            { deadline: streamDeadline },
            (error, response) => (error ? reject(inputError ?? fromServiceError(error)) : resolve(response)),
          );
          endForwardSpan(span, call);
          signal.addEventListener("abort", () => call.cancel(), { once: true });
          void pump(input as AsyncIterable<unknown>, call, signal, method, (error) => (inputError = error));
        });
      case "server_streaming": {
        let bytes: Buffer;
        try {
          bytes = encode(method, input);
        } catch (error) {
          return failing(error);
        }
        return readAll(
          endForwardSpan(
            span,
            client.makeServerStreamRequest(path, serialize, deserialize, bytes as never, metadata, {
              deadline: streamDeadline,
            }),
          ),
          signal,
        );
      }
      case "bidi_streaming": {
        const call = endForwardSpan(
          span,
          client.makeBidiStreamRequest(path, serialize, deserialize, metadata, { deadline: streamDeadline }),
        );
        const failure: { error?: unknown } = {};
        void pump(input as AsyncIterable<unknown>, call, signal, method, (error) => (failure.error = error));
        return readAll(call, signal, failure);
      }
    }
  }

  close(): void {
    for (const channel of this.channels.values()) channel.close();
  }

  private upstreamMethod(service: DescService, method: DescMethod): UpstreamMethod {
    const known = this.methods.get(method);
    if (known) return known;
    const client = this.upstreamOf.get(service.typeName);
    if (!client) throw new Error(`no upstream for ${service.typeName}`);
    const made = {
      client,
      path: `/${service.typeName}/${method.name}`,
      deserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
    };
    this.methods.set(method, made);
    return made;
  }
}

function headersOf(ctx: HandlerContext): ForwardHeaders {
  return {
    authorization: ctx.requestHeader.get("authorization"),
    requestId: ctx.values.get(requestIdKey),
    clientIp: ctx.values.get(clientIpKey),
  };
}

/**
 * A request message as protobuf binary for the upstream. A 64-bit integer beyond 2^53 (the
 * services hold them as numbers) and a message protobuf-es holds but cannot encode are the
 * caller's INVALID_ARGUMENT, the first naming the field.
 */
function encode(method: DescMethod, message: unknown): Buffer {
  const unsafe = unsafeInteger(method.input, message);
  if (unsafe) {
    throw new InvalidArgumentError(
      unsafe,
      `${unsafe} must be a whole number from -9007199254740991 to 9007199254740991`,
      { reason: "NUMBER_OUT_OF_RANGE" },
    );
  }
  try {
    return Buffer.from(toBinary(method.input, message as MessageShape<DescMessage>));
  } catch (error) {
    throw new InvalidArgumentError("", `the request does not fit ${method.input.name}: ${(error as Error).message}`, {
      reason: "MALFORMED_REQUEST",
    });
  }
}

const INT64_TYPES = new Set<number>([
  ScalarType.INT64,
  ScalarType.UINT64,
  ScalarType.SINT64,
  ScalarType.FIXED64,
  ScalarType.SFIXED64,
]);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const holdsInt64 = new Map<string, boolean>();

/** True when a message type has a 64-bit integer field anywhere inside it (cached: most have none). */
function hasInt64(desc: DescMessage, seen = new Set<string>()): boolean {
  const known = holdsInt64.get(desc.typeName);
  if (known !== undefined) return known;
  if (seen.has(desc.typeName)) return false;
  seen.add(desc.typeName);
  const found = desc.fields.some((field) => {
    if (field.fieldKind === "scalar" || (field.fieldKind === "list" && field.listKind === "scalar"))
      return INT64_TYPES.has(field.scalar!);
    if (field.fieldKind === "map")
      return (
        INT64_TYPES.has(field.mapKey) ||
        (field.mapKind === "scalar" && INT64_TYPES.has(field.scalar)) ||
        (field.mapKind === "message" && hasInt64(field.message, seen))
      );
    if (field.fieldKind === "message" || (field.fieldKind === "list" && field.listKind === "message"))
      return hasInt64(field.message!, seen);
    return false;
  });
  if (seen.size === 1) holdsInt64.set(desc.typeName, found);
  return found;
}

/** The path (proto names, e.g. "points[0].seq") of the first 64-bit integer beyond 2^53 in a message. */
function unsafeInteger(desc: DescMessage, message: unknown, prefix = ""): string | undefined {
  if (!hasInt64(desc) || typeof message !== "object" || message === null) return undefined;
  const record = message as Record<string, unknown>;
  const unsafe = (value: unknown) => typeof value === "bigint" && (value > MAX_SAFE || value < -MAX_SAFE);
  for (const field of desc.fields) {
    const holder = field.oneof
      ? (record[field.oneof.localName] as { case?: string; value?: unknown } | undefined)
      : undefined;
    const value = field.oneof ? (holder?.case === field.localName ? holder.value : undefined) : record[field.localName];
    if (value === undefined || value === null) continue;
    const path = `${prefix}${field.name}`;
    if (field.fieldKind === "scalar" && unsafe(value)) return path;
    if (field.fieldKind === "message") {
      const inner = unsafeInteger(field.message, value, `${path}.`);
      if (inner) return inner;
    }
    if (field.fieldKind === "list") {
      for (const [i, item] of (value as unknown[]).entries()) {
        if (field.listKind === "scalar" && unsafe(item)) return `${path}[${i}]`;
        if (field.listKind === "message") {
          const inner = unsafeInteger(field.message, item, `${path}[${i}].`);
          if (inner) return inner;
        }
      }
    }
    if (field.fieldKind === "map") {
      for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
        if (field.mapKind === "scalar" && unsafe(item)) return `${path}[${key}]`;
        if (field.mapKind === "message") {
          const inner = unsafeInteger(field.message, item, `${path}[${key}].`);
          if (inner) return inner;
        }
      }
    }
  }
  return undefined;
}

/** A stream that fails at once (its request could not be encoded). */
// biome-ignore lint/correctness/useYield: deliberately yields nothing: the stream's first read throws
async function* failing(error: unknown): AsyncGenerator<never> {
  throw error;
}

/**
 * Upstream messages as an async iterable; the upstream call ends when the caller stops
 * reading. When the caller's own messages failed (one it sent could not be decoded), that is
 * the error, not the cancellation it caused upstream.
 */
async function* readAll(
  call: grpc.ClientReadableStream<unknown> | grpc.ClientDuplexStream<unknown, unknown>,
  signal: AbortSignal,
  input: { error?: unknown } = {},
) {
  const cancel = () => call.cancel();
  signal.addEventListener("abort", cancel, { once: true });
  try {
    for await (const message of call) yield message;
  } catch (error) {
    throw input.error ?? fromStreamError(error);
  } finally {
    signal.removeEventListener("abort", cancel);
    call.cancel();
  }
}

/**
 * grpc-js's own words for a stream that ended without a gRPC status from the upstream: reset
 * (RST_STREAM: the upstream destroyed the stream or died, or ended it bare) or cancelled by
 * the upstream (a hard shutdown). A healthy service always sends a status, so this is an
 * upstream going away: UNAVAILABLE, like the dropped connection grpc-js already reports so,
 * not INTERNAL. (Our own cancel reads "Cancelled on client" and stays CANCELLED.)
 */
const TORN_STREAM = /^(Received RST_STREAM with code \d+|Call cancelled$)/;

function fromStreamError(error: unknown): DomainError {
  const status = error as Partial<grpc.ServiceError>;
  if (
    (status.code === grpc.status.INTERNAL || status.code === grpc.status.CANCELLED) &&
    TORN_STREAM.test(status.details ?? "")
  ) {
    return fromServiceError({ code: grpc.status.UNAVAILABLE, details: status.details, metadata: new grpc.Metadata() });
  }
  return fromServiceError(error);
}

/**
 * Copies the client's messages upstream, honouring backpressure, then half-closes. A message
 * the client sent that cannot be read or encoded cancels the upstream call and is reported
 * (as INVALID_ARGUMENT where it is the client's mistake) through `failed`.
 */
async function pump(
  input: AsyncIterable<unknown>,
  call: grpc.ClientWritableStream<unknown>,
  signal: AbortSignal,
  method: DescMethod,
  failed: (error: unknown) => void,
): Promise<void> {
  try {
    for await (const message of input) {
      if (signal.aborted) return;
      const bytes = encode(method, message);
      if (!call.write(bytes)) await new Promise((resolve) => call.once("drain", resolve));
    }
    call.end();
  } catch (error) {
    if (!signal.aborted) failed(undecodableAsInvalidArgument(error));
    call.cancel();
  }
}
