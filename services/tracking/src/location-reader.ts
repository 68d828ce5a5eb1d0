/**
 * Reads one driver's StreamLocation points: each message is ingested in order and its ack
 * queued on the driver's stream once its points are durable. One object per stream, driven
 * by the call's events (no promise, generator or closure per message on the common path).
 *
 * Reading pauses (gRPC flow control then holds the app) while an ingest waits for the
 * driver's state, while the breadcrumb pipeline is full (backpressure), and while
 * `maxInFlight` messages wait for their acks. Once the stream closes or drains, whatever is
 * read is not taken: never acked, the app re-sends it elsewhere.
 */
import type { StreamLocationRequest } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_service";
import type { RequestFlow, RequestListener, RequestStream } from "@weelo/grpc";
import type { AckSource, DriverStream } from "./driver-streams.js";
import type { IngestResult, TrackingService } from "./tracking.service.js";
import { toRawPoint, toRejections } from "./point-messages.js";

export interface LocationReaderDeps {
  service: Pick<TrackingService, "ingest">;
  /** Messages of one stream read but not yet acked before reading pauses. */
  maxInFlight: number;
  /** Resolves when the breadcrumb pipeline can take more (backpressure). */
  ready(): Promise<void>;
  /** True when ready() would resolve at once. */
  accepting(): boolean;
}

export class LocationReader implements RequestListener<StreamLocationRequest>, AckSource {
  private flow: RequestFlow | undefined;
  /** Ingested messages whose ack is not queued yet, oldest first (their durability settles in this order). */
  private readonly unacked: IngestResult[] = [];
  /** A wait is under way (an ingest loading the driver's state, or backpressure): reading is paused. */
  private waiting = false;
  private settledWaiters: (() => void)[] = [];
  /** The durability callbacks of every message (made once per stream, not per message). */
  private readonly acked: () => void;
  private readonly failed: (error: unknown) => void;

  constructor(
    private readonly driverId: string,
    private readonly stream: DriverStream,
    private readonly deps: LocationReaderDeps,
  ) {
    // Assigned here, not as class fields: the build's keepNames names a field's function at
    // every creation (a defineProperty that leaves ~250 bytes of dictionary per function).
    this.acked = () => {
      const result = this.unacked.shift()!;
      this.stream.pushAck(result.ackedSeq, result.rejected, toRejections(result.rejections));
      this.afterAck();
    };
    this.failed = (error) => {
      this.unacked.shift();
      this.stream.fail(error as Error);
      this.afterAck();
    };
    stream.readBy(this);
  }

  read(requests: RequestStream<StreamLocationRequest>): void {
    this.flow = requests.listen(this);
  }

  message(request: StreamLocationRequest): void {
    if (this.stream.closed || this.stream.isDraining) {
      this.flow!.stop();
      return;
    }
    if (!this.deps.accepting()) {
      this.wait(this.deps.ready(), request);
      return;
    }
    let result: IngestResult | Promise<IngestResult>;
    try {
      result = this.deps.service.ingest(this.driverId, request.points.map(toRawPoint));
    } catch (error) {
      this.error(error as Error);
      return;
    }
    if (result instanceof Promise) this.wait(result, undefined);
    else this.ingested(result);
  }

  /**
   * The app half-closed: its last acks still go out, and the stream stays open for commands
   * until the app cancels, a newer stream replaces it, or the server drains.
   */
  end(): void {}

  error(error: Error): void {
    this.stream.fail(error);
    this.settleIfDone();
  }

  /** Settles once every message read so far has its ack queued (or the stream failed). */
  acksSettled(): Promise<void> {
    if (this.done) return Promise.resolve();
    return new Promise((resolve) => this.settledWaiters.push(resolve));
  }

  private get done(): boolean {
    return !this.waiting && this.unacked.length === 0;
  }

  private ingested(result: IngestResult): void {
    this.unacked.push(result);
    result.durable.then(this.acked, this.failed);
    if (this.unacked.length >= this.deps.maxInFlight) this.flow!.pause();
  }

  private afterAck(): void {
    if (this.unacked.length === this.deps.maxInFlight - 1 && !this.waiting) this.flow!.resume();
    this.settleIfDone();
  }

  /**
   * Pauses reading until `until` settles: an ingest (its result is then taken) or the
   * pipeline's readiness (then `request`, read meanwhile, is taken).
   */
  private wait(until: Promise<unknown>, request: StreamLocationRequest | undefined): void {
    this.waiting = true;
    this.flow!.pause();
    until.then(
      (result) => {
        this.waiting = false;
        if (request) this.message(request);
        else this.ingested(result as IngestResult);
        if (!this.waiting && this.unacked.length < this.deps.maxInFlight && !this.stream.closed) this.flow!.resume();
        this.settleIfDone();
      },
      (error: unknown) => {
        this.waiting = false;
        this.error(error as Error);
      },
    );
  }

  private settleIfDone(): void {
    if (this.settledWaiters.length === 0 || !(this.done || this.stream.closed)) return;
    for (const resolve of this.settledWaiters.splice(0)) resolve();
  }
}
