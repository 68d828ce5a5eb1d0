/**
 * The open StreamLocation streams of this process, one per driver, and each stream's
 * bounded outgoing queue. Acks are cumulative, so a waiting ack is replaced by a newer one
 * (never more than one queued); commands must not be lost, so a stream whose queue of
 * commands is full is ended with RESOURCE_EXHAUSTED (the app reconnects and re-syncs)
 * instead of growing.
 */
import { FailedPreconditionError, ResourceExhaustedError, UnavailableError } from "@weelo/errors";
import type { DriverCommand, RejectedPoint } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking";
import type { StreamLocationResponse } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_service";
import type { PushedResponses, ResponseSink } from "@weelo/grpc";
import { v7 as uuidv7 } from "uuid";

/** Whoever reads the stream's points: a drain waits until the acks of what it read are queued. */
export interface AckSource {
  acksSettled(): Promise<void>;
}

/**
 * One driver's stream: its outgoing queue, written straight to the call (pushed responses)
 * while the transport takes it; what the transport cannot take yet waits here (one merged
 * ack, bounded commands) and is written on drain.
 */
export class DriverStream implements PushedResponses<StreamLocationResponse> {
  private ack: { ackedSeq: number; rejected: number; rejections: RejectedPoint[] } | undefined;
  private readonly commands: DriverCommand[] = [];
  private sink: ResponseSink<StreamLocationResponse> | undefined;
  /** Set while the transport's buffer is full (a drain callback is armed). */
  private blocked = false;
  private settle: { resolve(): void; reject(error: Error): void } | undefined;
  private ended = false;
  private failure: Error | undefined;
  private draining = false;
  private reader: AckSource | undefined;
  /** Set from holdCommands until tellFirst: queued commands wait behind the stream's greeting. */
  private greeting = false;

  constructor(
    readonly driverId: string,
    private readonly maxPendingCommands: number,
    /** Forgets the stream once it is over. */
    private readonly registry?: Pick<DriverStreamRegistry, "remove">,
  ) {}

  get closed(): boolean {
    return this.ended || this.failure !== undefined;
  }

  /** True once a drain began: the reader takes no more points (the app re-sends them to another server). */
  get isDraining(): boolean {
    return this.draining;
  }

  /** The reader of the stream's points tells how to wait for the acks of what it read. */
  readBy(reader: AckSource): void {
    this.reader = reader;
  }

  /**
   * Graceful shutdown of this stream: stop taking points, queue the acks of every point read,
   * then a ReconnectCommand, then end with OK once the queue is written.
   */
  async drain(reason: string, retryAfterMs: number): Promise<void> {
    if (this.closed || this.draining) return;
    this.draining = true;
    await this.reader?.acksSettled().catch(() => undefined);
    if (this.closed) return;
    this.commands.push({
      commandId: uuidv7(),
      issuedAt: new Date(),
      kind: { $case: "reconnect", value: { reason, retryAfterMs } },
    });
    this.end();
  }

  /** Commands waiting to be written (bounded by maxPendingCommands). */
  get pendingCommands(): number {
    return this.commands.length;
  }

  /** Queues an ack, merging it with one not yet written (the rejections of both are told). */
  pushAck(ackedSeq: number, rejected: number, rejections: RejectedPoint[] = []): void {
    if (this.closed) return;
    const waiting = this.ack;
    if (waiting) {
      waiting.ackedSeq = Math.max(waiting.ackedSeq, ackedSeq);
      waiting.rejected += rejected;
      if (rejections.length > 0) waiting.rejections = waiting.rejections.concat(rejections);
    } else {
      this.ack = { ackedSeq, rejected, rejections };
    }
    this.flush();
  }

  /** Queues a command; false (and the stream ends with RESOURCE_EXHAUSTED) when the queue is full. */
  pushCommand(command: DriverCommand): boolean {
    if (this.closed) return false;
    if (this.commands.length >= this.maxPendingCommands) {
      this.fail(
        new ResourceExhaustedError("the stream fell too far behind its commands: reconnect to re-sync", {
          reason: "STREAM_BUFFER_FULL",
        }),
      );
      return false;
    }
    this.commands.push(command);
    this.flush();
    return true;
  }

  /**
   * Holds the commands pushed from now on (acks still go) until tellFirst: a command sent
   * live while the stream's greeting is being read waits behind it, so an app hears the
   * greeting first.
   */
  holdCommands(): void {
    this.greeting = true;
  }

  /** Writes these commands before any held since holdCommands, then lets commands go again. */
  tellFirst(commands: DriverCommand[]): void {
    this.greeting = false;
    if (this.closed) return;
    this.commands.unshift(...commands);
    this.flush();
  }

  /** Ends the stream with an error status; queued messages are dropped. */
  fail(error: Error): void {
    if (this.closed) return;
    this.failure = error;
    this.commands.length = 0;
    this.ack = undefined;
    this.flush();
  }

  /** Ends the stream normally once the queue is written. */
  end(): void {
    this.ended = true;
    this.flush();
  }

  /** Writes the queue to the call until the stream ends (OK) or fails (its error). */
  pipeTo(sink: ResponseSink<StreamLocationResponse>): Promise<void> {
    this.sink = sink;
    // The caller went away: nothing more can be written (the sink drops it), the stream is over.
    sink.onGone(() => {
      this.blocked = false;
      this.end();
    });
    return new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
      this.flush();
    });
  }

  /** Writes what waits while the transport takes it, then settles the stream once it ended. */
  private flush(): void {
    const sink = this.sink;
    const settle = this.settle;
    if (!sink || !settle) return;
    if (this.failure) {
      this.settle = undefined;
      this.registry?.remove(this);
      settle.reject(this.failure);
      return;
    }
    if (this.blocked) return;
    for (;;) {
      let message: StreamLocationResponse;
      if (this.ack) {
        message = { kind: { $case: "ack", value: this.ack } };
        this.ack = undefined;
      } else if (this.commands.length > 0 && (!this.greeting || this.ended)) {
        message = { kind: { $case: "command", value: this.commands.shift()! } };
      } else {
        break;
      }
      if (!sink.write(message)) {
        this.blocked = true;
        sink.onDrain(() => {
          this.blocked = false;
          this.flush();
        });
        return;
      }
    }
    if (this.ended) {
      this.settle = undefined;
      this.registry?.remove(this);
      settle.resolve();
    }
  }
}

/** The streams of this process by driver: a new stream of a driver replaces (ends) the old one. */
export class DriverStreamRegistry {
  private readonly streams = new Map<string, DriverStream>();
  private draining = false;

  constructor(private readonly maxPendingCommands: number) {}

  get size(): number {
    return this.streams.size;
  }

  open(driverId: string): DriverStream {
    if (this.draining)
      throw new UnavailableError("this server is shutting down: reconnect", { reason: "SHUTTING_DOWN" });
    const stream = new DriverStream(driverId, this.maxPendingCommands, this);
    const old = this.streams.get(driverId);
    this.streams.set(driverId, stream);
    old?.fail(
      new FailedPreconditionError("a newer stream of this driver replaced this one", { reason: "STREAM_REPLACED" }),
    );
    return stream;
  }

  /** Forgets the stream if it is still the driver's current one. */
  remove(stream: DriverStream): void {
    if (this.streams.get(stream.driverId) === stream) this.streams.delete(stream.driverId);
  }

  /** The driver's open stream here; a stream that failed (full, replaced) no longer counts. */
  get(driverId: string): DriverStream | undefined {
    const stream = this.streams.get(driverId);
    if (stream?.closed) {
      this.streams.delete(driverId);
      return undefined;
    }
    return stream;
  }

  /** Ends every stream (they finish writing their queues). */
  endAll(): void {
    for (const stream of this.streams.values()) stream.end();
  }

  /**
   * Graceful shutdown: refuses new streams, and drains every open one (acks of what was read,
   * then a ReconnectCommand with a delay spread at random over spreadMs, then OK).
   */
  async drainAll(spreadMs: number): Promise<void> {
    this.draining = true;
    await Promise.all(
      [...this.streams.values()].map((stream) =>
        stream.drain("the server is restarting: reconnect", Math.floor(Math.random() * spreadMs)),
      ),
    );
  }
}
