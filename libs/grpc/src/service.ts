/**
 * Binds plain async handlers to a ts-proto grpc-js service definition. Each call gets a
 * CallContext and runs through the interceptor chain; errors become gRPC statuses with
 * details. Streams honour backpressure and stop when the caller goes away.
 */
import { once } from "node:events";
import type * as grpc from "@grpc/grpc-js";
import type { Logger } from "@weelo/log";
import { requestIdFrom } from "@weelo/log";
import { InvalidArgumentError } from "@weelo/errors";
import type { CallContext } from "./context.js";
import type { PeerCall } from "./mesh/mesh.js";
import { compose, type ServerInterceptor } from "./interceptors/types.js";
import { RefusedRequest, requestBytesCheck } from "./interceptors/validation.js";
import { toStatusObject } from "./status.js";

/** A ts-proto generated method definition. */
export interface MethodDefinition<Req, Res> {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestDeserialize(bytes: Buffer): Req;
  responseSerialize(value: Res): Buffer;
  requestSerialize(value: Req): Buffer;
  responseDeserialize(bytes: Buffer): Res;
}

export type ServiceDefinition = Record<string, MethodDefinition<unknown, unknown>>;

type RequestOf<M> = M extends MethodDefinition<infer Req, unknown> ? Req : never;
type ResponseOf<M> = M extends MethodDefinition<unknown, infer Res> ? Res : never;

/** What `RequestStream.listen` calls: each message, then the end of the reading. */
export interface RequestListener<T> {
  message(request: T): void;
  /** The caller half-closed: no more messages. */
  end(): void;
  /** A message that could not be decoded or breaks a field rule (INVALID_ARGUMENT), or the transport failed. */
  error(error: Error): void;
}

/** Flow control of a `listen` reading. */
export interface RequestFlow {
  /** Stops delivering messages until resume() (gRPC flow control then holds the caller). */
  pause(): void;
  resume(): void;
  /** Stops reading for good; the call stays open for responses. */
  stop(): void;
}

/**
 * The requests of a client or bidirectional stream: iterated (the first refused message ends
 * the iteration with INVALID_ARGUMENT), or listened to. Listening costs no promise per message,
 * which matters for long-lived streams of many small messages, and never destroys the call.
 */
export interface RequestStream<T> extends AsyncIterable<T> {
  listen(listener: RequestListener<T>): RequestFlow;
}

/** Where pushed responses are written (see PushedResponses). */
export interface ResponseSink<T> {
  /** Writes a message; false when the transport's buffer is full: wait for onDrain before writing more. */
  write(message: T): boolean;
  /** Calls back once when the buffer has room again. */
  onDrain(callback: () => void): void;
  /**
   * Calls back once when the call is over from the outside: the caller went away (cancelled,
   * past its deadline) or an interceptor ended it (a revoked session). Nothing written after
   * it reaches the caller.
   */
  onGone(callback: () => void): void;
}

/**
 * The responses of a streaming call pushed by their producer instead of pulled from an async
 * generator: no promise or generator step per message. `pipeTo` is called once; it resolves
 * when the stream ends normally (OK) and rejects with the error to end the call with. The
 * producer ends when the sink says the call is gone.
 */
export interface PushedResponses<T> {
  pipeTo(sink: ResponseSink<T>): Promise<void>;
}

/** The handler shape each kind of method takes. */
export type Handler<M> = M extends { requestStream: false; responseStream: false }
  ? (request: RequestOf<M>, ctx: CallContext) => Promise<ResponseOf<M>>
  : M extends { requestStream: false; responseStream: true }
    ? (request: RequestOf<M>, ctx: CallContext) => AsyncIterable<ResponseOf<M>>
    : M extends { requestStream: true; responseStream: false }
      ? (requests: RequestStream<RequestOf<M>>, ctx: CallContext) => Promise<ResponseOf<M>>
      : (
          requests: RequestStream<RequestOf<M>>,
          ctx: CallContext,
        ) => AsyncIterable<ResponseOf<M>> | Promise<PushedResponses<ResponseOf<M>>>;

export type ServiceHandlers<D extends ServiceDefinition> = { [K in keyof D]: Handler<D[K]> };

export interface BindOptions {
  logger: Logger;
  interceptors: readonly ServerInterceptor[];
  /** The calling service proven by the connection's peer certificate (mesh listener only). */
  callerOf?: (call: PeerCall) => string | undefined;
}

/** "/weelo.identity.v1.AuthService/SendOtp" → ["weelo.identity.v1.AuthService", "SendOtp"]. */
export function splitPath(path: string): [service: string, method: string] {
  const [, service = "", method = ""] = path.split("/");
  return [service, method];
}

/** The grpc-js implementation object for a service: one wrapped function per method. */
export function bindService<D extends ServiceDefinition>(
  definition: D,
  handlers: ServiceHandlers<D>,
  options: BindOptions,
): grpc.UntypedServiceImplementation {
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition)) {
    const handler = handlers[name as keyof D] as unknown as (...args: unknown[]) => unknown;
    if (typeof handler !== "function") throw new Error(`no handler for ${method.path}`);
    implementation[name] = wrap(method, handler.bind(handlers), options);
  }
  return implementation;
}

/**
 * A request message that could not be decoded (garbage bytes, or an int64 beyond what the
 * generated code holds as a number). grpc-js would answer a throwing deserializer with
 * INTERNAL before any handler runs; decoding never throws here instead, and the call fails
 * with INVALID_ARGUMENT where the handler would have read the message.
 */
function undecodable(method: string, error: unknown): RefusedRequest {
  const reason = error instanceof Error ? error.message : String(error);
  return new RefusedRequest(
    new InvalidArgumentError("", `the request is not a valid ${method} message: ${reason}`, {
      reason: "MALFORMED_REQUEST",
    }),
  );
}

/**
 * The definition to register with grpc-js: the same methods with request deserializers that
 * never throw and that check the contract's field rules (see interceptors/validation.ts). A
 * message that cannot be decoded or breaks a rule becomes a RefusedRequest, which
 * bindService's handlers throw after the interceptor chain ran.
 */
export function tolerantDefinition<D extends ServiceDefinition>(definition: D): D {
  const tolerant: ServiceDefinition = {};
  for (const [name, method] of Object.entries(definition)) {
    const [, methodName] = splitPath(method.path);
    const check = requestBytesCheck(method.path); // compiled once, here
    tolerant[name] = {
      ...method,
      requestDeserialize(bytes: Buffer) {
        try {
          const message = method.requestDeserialize(bytes);
          const refusal = check?.(bytes);
          return refusal ? new RefusedRequest(refusal) : message;
        } catch (error) {
          return undecodable(methodName, error);
        }
      },
    };
  }
  return tolerant as D;
}

type ReadableCall = AsyncIterable<unknown> &
  Pick<grpc.ServerDuplexStream<unknown, unknown>, "on" | "off" | "pause" | "resume">;

/**
 * The requests of a client or bidirectional stream as the handler reads them: the first
 * message that could not be decoded or breaks a field rule ends the reading with
 * INVALID_ARGUMENT. Iterating to the end or breaking out destroys the call (a Node stream's
 * iterator does); `listen` never does (handlers that keep writing after reading use it). A
 * class, not closures: one small object per call.
 */
class CheckedRequests implements RequestStream<unknown> {
  constructor(private readonly call: ReadableCall) {}

  [Symbol.asyncIterator](): AsyncIterableIterator<unknown> {
    return checkedIterator(this.call[Symbol.asyncIterator]());
  }

  listen(listener: RequestListener<unknown>): RequestFlow {
    return new ListenedRequests(this.call, listener);
  }
}

function checkedIterator(inner: AsyncIterator<unknown>): AsyncIterableIterator<unknown> {
  return {
    async next() {
      const result = await inner.next();
      if (!result.done && result.value instanceof RefusedRequest) {
        await inner.return?.();
        throw result.value.error;
      }
      return result;
    },
    async return(value?: unknown) {
      return (await inner.return?.(value)) ?? { done: true, value };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/** The reading a call is listened to by (ListenedRequests), kept on the call itself. */
const LISTENED = Symbol("weelo.listenedRequests");
type ListenedCall = ReadableCall & { [LISTENED]?: ListenedRequests };

// One set of event listeners for every listened call: an emitter calls a listener with itself
// as `this`, which leads to the call's reading. No closure or context per stream.
function onListenedData(this: ListenedCall, message: unknown): void {
  this[LISTENED]?.data(message);
}
function onListenedEnd(this: ListenedCall): void {
  this[LISTENED]?.end();
}
function onListenedError(this: ListenedCall, error: Error): void {
  this[LISTENED]?.error(error);
}

/** A `listen` reading: the call's own events, one object per call (no closure per message or per call). */
class ListenedRequests implements RequestFlow {
  private stopped = false;

  constructor(
    private readonly call: ListenedCall,
    private readonly listener: RequestListener<unknown>,
  ) {
    call[LISTENED] = this;
    call.on("end", onListenedEnd);
    call.on("error", onListenedError);
    call.on("data", onListenedData);
  }

  data(message: unknown): void {
    if (message instanceof RefusedRequest) {
      this.stop();
      this.listener.error(message.error);
    } else {
      this.listener.message(message);
    }
  }

  end(): void {
    this.stop();
    this.listener.end();
  }

  error(error: Error): void {
    this.stop();
    this.listener.error(error);
  }

  pause(): void {
    this.call.pause();
  }

  resume(): void {
    if (!this.stopped) this.call.resume();
  }

  stop(): void {
    this.stopped = true;
    this.call.off("data", onListenedData);
    this.call.off("end", onListenedEnd);
    this.call.off("error", onListenedError);
    this.call.pause();
  }
}

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> & Partial<grpc.ServerWritableStream<unknown, unknown>>;

function wrap(
  method: MethodDefinition<unknown, unknown>,
  handler: (...args: unknown[]) => unknown,
  options: BindOptions,
): grpc.UntypedHandleCall {
  const [service, methodName] = splitPath(method.path);
  const methodLogger = options.logger.child({ rpc: `${service.split(".").pop()}/${methodName}` });

  const streaming = method.requestStream || method.responseStream;
  const contextOf = (call: AnyCall): CallContext =>
    new GrpcCallContext(call, service, methodName, methodLogger, options.callerOf, streaming);

  if (!method.responseStream) {
    return ((call: AnyCall, callback: grpc.sendUnaryData<unknown>) => {
      const ctx = contextOf(call);
      let response: unknown;
      const input = method.requestStream ? new CheckedRequests(call as unknown as ReadableCall) : call.request;
      compose(
        options.interceptors,
        async () => {
          if (input instanceof RefusedRequest) throw input.error;
          response = await handler(input, ctx);
        },
        ctx,
      ).then(
        () => callback(null, response),
        (error: unknown) => callback(toStatusObject(error)),
      );
    }) as grpc.UntypedHandleCall;
  }

  return ((call: AnyCall) => {
    const ctx = contextOf(call);
    const input = method.requestStream ? new CheckedRequests(call as unknown as ReadableCall) : call.request;
    const writable = call as unknown as grpc.ServerWritableStream<unknown, unknown>;
    let sink: CallSink | undefined;
    compose(
      options.interceptors,
      () => {
        if (input instanceof RefusedRequest) return Promise.reject(input.error);
        let responses: AsyncIterable<unknown> | Promise<PushedResponses<unknown>>;
        try {
          responses = handler(input, ctx) as AsyncIterable<unknown> | Promise<PushedResponses<unknown>>;
        } catch (error) {
          return Promise.reject(error);
        }
        // Pushed responses keep no async frame alive for the stream's life.
        if (responses instanceof Promise) {
          const pushedTo = new CallSink(writable, ctx);
          sink = pushedTo;
          return responses.then((pushed) => pushed.pipeTo(pushedTo));
        }
        return writeAll(responses, writable, ctx);
      },
      ctx,
    ).then(
      () => writable.end(),
      (error: unknown) => {
        // An interceptor ended the call while the producer still runs: it is over for it too.
        sink?.gone();
        if ((ctx as GrpcCallContext).gone) return; // nobody is listening any more
        writable.emit("error", toStatusObject(error));
      },
    );
  }) as grpc.UntypedHandleCall;
}

/** Writes a handler's generated responses, honouring backpressure, until it ends or the caller goes away. */
async function writeAll(
  responses: AsyncIterable<unknown>,
  writable: grpc.ServerWritableStream<unknown, unknown>,
  ctx: CallContext,
): Promise<void> {
  for await (const message of responses) {
    if (ctx.signal.aborted) break;
    if (!writable.write(message)) await once(writable, "drain", { signal: ctx.signal }).catch(() => undefined);
  }
}

/** The sink a call's pushed responses go to (CallSink), kept on the call itself. */
const SINK = Symbol("weelo.callSink");
type SinkCall = grpc.ServerWritableStream<unknown, unknown> & { [SINK]?: CallSink };

/** The one "cancelled" listener of every sink (`this` is the call): no closure per stream. */
function onSinkCallCancelled(this: SinkCall): void {
  this[SINK]?.gone();
}

/** The sink of pushed responses: the call itself; writes after the caller went away are dropped. */
class CallSink implements ResponseSink<unknown> {
  private goneCallback: (() => void) | undefined;

  constructor(
    private readonly call: grpc.ServerWritableStream<unknown, unknown>,
    private readonly ctx: CallContext,
  ) {}

  write(message: unknown): boolean {
    if (this.call.cancelled) return true;
    return this.call.write(message);
  }

  onDrain(callback: () => void): void {
    this.call.once("drain", callback);
  }

  onGone(callback: () => void): void {
    this.goneCallback = callback;
    // A call with a deadline needs the context's signal (its timer); one without hears the
    // call's own cancel, and no abort signal is made for a stream that may live for hours.
    if (this.ctx.deadline !== undefined) this.ctx.signal.addEventListener("abort", () => this.gone(), { once: true });
    else {
      (this.call as SinkCall)[SINK] = this;
      this.call.on("cancelled", onSinkCallCancelled); // gone() runs its callback once
    }
  }

  gone(): void {
    const callback = this.goneCallback;
    this.goneCallback = undefined;
    callback?.();
  }
}

/**
 * The per-call context. The abort signal and the child logger are made on first use: most
 * unary calls never look at them, and both cost more than the rest of the bookkeeping.
 */
class GrpcCallContext implements CallContext {
  readonly requestId: string;
  readonly deadline: number | undefined;
  readonly metadata: grpc.Metadata;
  principal: CallContext["principal"] = undefined;
  private controller: AbortController | undefined;
  private childLogger: Logger | undefined;
  private resolvedCaller: string | undefined | null = null;
  /** Set by abort(): the call was ended on purpose, its caller is still there for the error. */
  private abortedWith: Error | undefined;

  constructor(
    private readonly call: AnyCall,
    readonly service: string,
    readonly method: string,
    private readonly methodLogger: Logger,
    private readonly callerOf: ((call: PeerCall) => string | undefined) | undefined,
    readonly streaming = false,
  ) {
    this.metadata = call.metadata;
    this.requestId = requestIdFrom(call.metadata.get("x-request-id")[0] as string | undefined);
    this.deadline = deadlineOf(call);
  }

  get caller(): string | undefined {
    if (this.resolvedCaller === null) this.resolvedCaller = this.callerOf?.(this.call);
    return this.resolvedCaller;
  }

  get peer(): string {
    return this.call.getPeer();
  }

  /** Only the gateway, proven by its certificate, may say which app address a call came from. */
  get clientIp(): string {
    const forwardedFor = this.caller === "gateway" ? this.call.metadata.get("x-forwarded-for")[0] : undefined;
    return typeof forwardedFor === "string" && forwardedFor.trim() !== ""
      ? forwardedFor.split(",")[0]!.trim()
      : peerIp(this.call.getPeer());
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      const controller = new AbortController();
      this.controller = controller;
      if (this.call.cancelled) controller.abort(new Error("cancelled by the caller"));
      this.call.on("cancelled", () => controller.abort(new Error("cancelled by the caller")));
      if (this.deadline !== undefined) {
        const timer = setTimeout(
          () => controller.abort(new Error("deadline exceeded")),
          Math.max(0, this.deadline - Date.now()),
        );
        timer.unref();
        controller.signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
        this.call.on("finish", () => clearTimeout(timer));
      }
    }
    return this.controller.signal;
  }

  abort(error: Error): void {
    if (this.abortedWith || this.gone) return;
    this.abortedWith = error;
    const signal = this.signal; // armed now if nobody looked yet
    if (!signal.aborted) this.controller!.abort(error);
  }

  /** True once the caller has gone (cancelled or past its deadline), without arming a signal. */
  get gone(): boolean {
    if (this.abortedWith) return this.call.cancelled;
    return (
      this.controller?.signal.aborted ??
      (this.call.cancelled || (this.deadline !== undefined && this.deadline <= Date.now()))
    );
  }

  get logger(): Logger {
    this.childLogger ??= this.methodLogger.child({ requestId: this.requestId });
    return this.childLogger;
  }
}

function deadlineOf(call: AnyCall): number | undefined {
  const deadline = call.getDeadline();
  if (deadline instanceof Date) return deadline.getTime();
  return Number.isFinite(deadline) ? deadline : undefined;
}

/** "ipv4:127.0.0.1:5432" or "[::1]:5432" → the bare address. */
function peerIp(peer: string): string {
  const withoutScheme = peer.replace(/^ipv[46]:/, "");
  const bracket = /^\[([^\]]+)\]/.exec(withoutScheme);
  if (bracket) return bracket[1]!;
  const lastColon = withoutScheme.lastIndexOf(":");
  return lastColon > 0 ? withoutScheme.slice(0, lastColon) : withoutScheme;
}
