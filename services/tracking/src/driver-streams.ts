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
import { v7 as uuidv7 } from "uuid";

export class DriverStream {
  private ack: { ackedSeq: number; rejected: number; rejections: RejectedPoint[] } | undefined;
  private readonly commands: DriverCommand[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  private failure: Error | undefined;
  private draining = false;
  /** Settles when every ack of the messages read so far is queued (set by the reader). */
  private acksSettled: () => Promise<void> = async () => undefined;

  constructor(
    readonly driverId: string,
    private readonly maxPendingCommands: number,
  ) {}

  get closed(): boolean {
    return this.ended || this.failure !== undefined;
  }

  /** True once a drain began: the reader takes no more points (the app re-sends them to another server). */
  get isDraining(): boolean {
    return this.draining;
  }

  /** The reader tells how to wait for the acks of what it read. */
  onAcksSettled(wait: () => Promise<void>): void {
    this.acksSettled = wait;
  }

  /**
   * Graceful shutdown of this stream: stop taking points, queue the acks of every point read,
   * then a ReconnectCommand, then end with OK once the queue is written.
   */
  async drain(reason: string, retryAfterMs: number): Promise<void> {
    if (this.closed || this.draining) return;
    this.draining = true;
    await this.acksSettled().catch(() => undefined);
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
    this.ack = this.ack
      ? {
          ackedSeq: Math.max(this.ack.ackedSeq, ackedSeq),
          rejected: this.ack.rejected + rejected,
          rejections: [...this.ack.rejections, ...rejections],
        }
      : { ackedSeq, rejected, rejections };
    this.signal();
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
    this.signal();
    return true;
  }

  /** Ends the stream with an error status; queued messages are dropped. */
  fail(error: Error): void {
    if (this.closed) return;
    this.failure = error;
    this.commands.length = 0;
    this.ack = undefined;
    this.signal();
  }

  /** Ends the stream normally once the queue is written. */
  end(): void {
    this.ended = true;
    this.signal();
  }

  /** The messages to write, until the stream ends or fails (then it throws the failure). */
  async *messages(signal: AbortSignal): AsyncGenerator<StreamLocationResponse> {
    const onAbort = () => this.end();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        if (this.failure) throw this.failure;
        if (this.ack) {
          const ack = this.ack;
          this.ack = undefined;
          yield { kind: { $case: "ack", value: ack } };
        } else if (this.commands.length > 0) {
          yield { kind: { $case: "command", value: this.commands.shift()! } };
        } else if (this.ended) {
          return;
        } else {
          await new Promise<void>((resolve) => (this.wake = resolve));
        }
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
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
    const stream = new DriverStream(driverId, this.maxPendingCommands);
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
