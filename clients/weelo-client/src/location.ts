/**
 * The driver app's GPS upload: numbered points kept until the server acknowledges them, so a
 * dropped connection, a server restart or an expired token loses nothing (the server ignores
 * sequence numbers it already has, so re-sending is safe).
 *
 * Two ways up, the same acks: StreamLocation (bidirectional, HTTP/2: Node and native apps with
 * an HTTP/2 transport), which also brings the driver's commands (assignments, cancellations,
 * reconnect requests); or, where the platform cannot stream from the client (browsers, React
 * Native's fetch), UpdateLocation batches every `flushMs`.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Client } from "@connectrpc/connect";
import {
  type DriverCommand,
  type LocationPoint,
  LocationPointSchema,
  type RejectedPoint,
} from "@weelo/contracts/es/weelo/tracking/v1/tracking_pb";
import type { StreamLocationRequest, TrackingService } from "@weelo/contracts/es/weelo/tracking/v1/tracking_service_pb";
import { backoffMs } from "./backoff.js";
import { isStreamBreak, isTransient, isUnauthenticated } from "./errors.js";
import type { Session } from "./session.js";
import { pause, type StreamBreak } from "./streams.js";

/** One GPS fix as the app reads it; recordedAt defaults to now. */
export interface Fix {
  lat: number;
  lng: number;
  accuracyM: number;
  speedMps?: number;
  heading?: number;
  recordedAt?: Date;
}

/** A point sent and not yet acknowledged, with whatever the app tagged it with. */
export interface SentPoint<Tag> {
  seq: bigint;
  point: LocationPoint;
  tag: Tag | undefined;
}

export interface Acknowledgement<Tag> {
  ackedSeq: bigint;
  /** The points this ack released, in order. */
  points: SentPoint<Tag>[];
  /** Points of the acknowledged message refused by the server's filters, each with its reason. */
  rejected: RejectedPoint[];
}

export interface LocationUploadOptions<Tag> {
  /** "stream" needs a transport that can stream from the client (HTTP/2); "batch" works everywhere. */
  mode: "stream" | "batch";
  signal?: AbortSignal;
  /** The first sequence number is this plus one (a restarted app continues its numbering). Default 0. */
  lastSeq?: bigint;
  /** Batch mode: how often unacknowledged points are sent, ms. Default 1000. */
  flushMs?: number;
  onAck?: (ack: Acknowledgement<Tag>) => void;
  /**
   * Stream mode: what the server tells the driver (assignment, cancelled, reopened, status
   * prompt, reconnect). A new stream repeats the last trip taken away from the driver and the
   * trip they are on, each under the id it was first sent with; a command whose id this upload
   * passed on already is not passed again. An app that restarts hears them once more.
   */
  onCommand?: (command: DriverCommand) => void;
  /** The upload broke and reconnects after waitMs (or the server's ReconnectCommand delay). */
  onBreak?: (event: StreamBreak) => void;
  /** The upload stopped for good: a refusal that is not worth retrying (e.g. PermissionDenied), or the session ended. */
  onFailure?: (error: unknown) => void;
  /** A new stream is up (its first answer came) and carried again this many unacknowledged points. */
  onResent?: (count: number) => void;
}

/** At most this many points per message (the server's limit is 500). */
const MESSAGE_POINTS = 100;
/** How many command ids an upload remembers to drop repeats (a driver hears a few commands an hour). */
const HEARD_COMMANDS = 256;

/** An async iterable the upload pushes its messages into; ends when told. */
class Outbox<T> implements AsyncIterable<T> {
  private readonly queued: T[] = [];
  private wake: (() => void) | undefined;
  private ended = false;

  push(value: T): void {
    this.queued.push(value);
    this.wake?.();
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const next = this.queued.shift();
      if (next !== undefined) yield next;
      else if (this.ended) return;
      else await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}

export class LocationUpload<Tag = undefined> {
  private seq: bigint;
  private ackedSeq: bigint;
  private readonly pending: SentPoint<Tag>[] = [];
  private readonly waiters: { seq: bigint; resolve: () => void }[] = [];
  /** Ids of the commands passed to onCommand, oldest first (see firstHearing). */
  private readonly heardCommands = new Set<string>();
  private outbox: Outbox<StreamLocationRequest> | undefined;
  private readonly stopped: AbortController = new AbortController();
  private readonly done: Promise<void>;
  /** Why the upload stopped by itself, if it did. */
  failure: unknown;

  constructor(
    private readonly tracking: Client<typeof TrackingService>,
    private readonly session: Session,
    private readonly options: LocationUploadOptions<Tag>,
  ) {
    this.seq = options.lastSeq ?? 0n;
    this.ackedSeq = this.seq;
    options.signal?.addEventListener("abort", () => this.stop(), { once: true });
    this.done = (options.mode === "stream" ? this.streamLoop() : this.batchLoop()).catch((error: unknown) => {
      this.failure = error;
      this.stopped.abort();
      for (const waiter of this.waiters.splice(0)) waiter.resolve();
      options.onFailure?.(error);
    });
  }

  /** The highest sequence number acknowledged. */
  get acked(): bigint {
    return this.ackedSeq;
  }

  /** The last sequence number given to a point. */
  get lastSeq(): bigint {
    return this.seq;
  }

  /** True while a stream is open (stream mode); points sent meanwhile go at once. */
  get streaming(): boolean {
    return this.outbox !== undefined;
  }

  /** Points sent and not yet acknowledged. */
  get unacknowledged(): number {
    return this.pending.length;
  }

  /** Queues a fix (sent at once on an open stream, else with the next message); returns its sequence number. */
  send(fix: Fix, tag?: Tag): bigint {
    this.seq += 1n;
    const point = create(LocationPointSchema, {
      seq: this.seq,
      recordedAt: timestampFromDate(fix.recordedAt ?? new Date()),
      lat: fix.lat,
      lng: fix.lng,
      accuracyM: fix.accuracyM,
      speedMps: fix.speedMps ?? 0,
      heading: fix.heading ?? 0,
    });
    const sent: SentPoint<Tag> = { seq: this.seq, point, tag };
    this.pending.push(sent);
    this.outbox?.push({ points: [point] } as StreamLocationRequest);
    return this.seq;
  }

  /** Resolves once every point up to seq is acknowledged (or the upload stops). */
  acknowledged(seq: bigint): Promise<void> {
    if (seq <= this.ackedSeq || this.stopped.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ seq, resolve }));
  }

  /** Stops uploading; unacknowledged points stay unacknowledged. Resolves when the connection is closed. */
  async stop(): Promise<void> {
    this.stopped.abort();
    this.outbox?.end();
    for (const waiter of this.waiters.splice(0)) waiter.resolve();
    await this.done;
  }

  private onAck(ackedSeq: bigint, rejected: RejectedPoint[]): void {
    if (ackedSeq <= this.ackedSeq) return;
    this.ackedSeq = ackedSeq;
    const released: SentPoint<Tag>[] = [];
    while (this.pending.length > 0 && this.pending[0]!.seq <= ackedSeq) released.push(this.pending.shift()!);
    this.options.onAck?.({ ackedSeq, points: released, rejected });
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.waiters[i]!.seq <= ackedSeq) this.waiters.splice(i, 1)[0]!.resolve();
    }
  }

  /**
   * False for a command id this upload passed on already: a stream that opens repeats the last
   * trip taken away from the driver and the trip they are on under their first ids, so an app
   * hears each once.
   */
  private firstHearing(commandId: string): boolean {
    if (!commandId) return true;
    if (this.heardCommands.has(commandId)) return false;
    this.heardCommands.add(commandId);
    // A Set iterates in insertion order: the oldest id goes first.
    if (this.heardCommands.size > HEARD_COMMANDS) this.heardCommands.delete(this.heardCommands.values().next().value!);
    return true;
  }

  private backoff(attempt: number): number {
    return backoffMs(attempt, 100, 3000);
  }

  /** Handles a break: a new token after Unauthenticated, else the wait; throws what is not worth retrying. */
  private async recover(error: unknown, token: string | undefined, attempt: number, waitMs: number): Promise<void> {
    this.options.onBreak?.({ error, attempt, waitMs });
    if (isUnauthenticated(error)) {
      await this.session.renew(token).catch((failure) => {
        if (!isTransient(failure)) throw failure;
      });
    }
    await pause(waitMs, this.stopped.signal);
  }

  private async streamLoop(): Promise<void> {
    const signal = this.stopped.signal;
    let attempt = 0;
    while (!signal.aborted) {
      const token = await this.session.accessToken();
      const outbox = new Outbox<StreamLocationRequest>();
      // Everything not acknowledged goes again on the new stream.
      const resending = this.pending.length;
      for (let i = 0; i < this.pending.length; i += MESSAGE_POINTS)
        outbox.push({ points: this.pending.slice(i, i + MESSAGE_POINTS).map((p) => p.point) } as StreamLocationRequest);
      this.outbox = outbox;
      let reconnectAfter: number | undefined;
      let answered = false;
      let error: unknown;
      try {
        for await (const message of this.tracking.streamLocation(outbox, { signal })) {
          attempt = 0;
          if (!answered) {
            answered = true;
            if (resending > 0) this.options.onResent?.(resending);
          }
          if (message.kind.case === "ack") this.onAck(message.kind.value.ackedSeq, message.kind.value.rejections);
          else if (message.kind.case === "command") {
            const command = message.kind.value;
            if (command.kind.case === "reconnect") reconnectAfter = command.kind.value.retryAfterMs;
            if (this.firstHearing(command.commandId)) this.options.onCommand?.(command);
          }
        }
      } catch (failure) {
        if (signal.aborted) break;
        if (!isUnauthenticated(failure) && !isStreamBreak(failure, signal)) {
          outbox.end();
          throw failure;
        }
        error = failure;
      } finally {
        if (this.outbox === outbox) this.outbox = undefined;
        outbox.end();
      }
      if (signal.aborted) break;
      attempt += 1;
      await this.recover(error, token, attempt, reconnectAfter ?? this.backoff(attempt));
    }
  }

  private async batchLoop(): Promise<void> {
    const signal = this.stopped.signal;
    let attempt = 0;
    while (!signal.aborted) {
      if (this.pending.length === 0) {
        await pause(this.options.flushMs ?? 1000, signal);
        continue;
      }
      const token = await this.session.accessToken();
      try {
        const batch = this.pending.slice(0, MESSAGE_POINTS * 5).map((p) => p.point);
        const answer = await this.tracking.updateLocation({ points: batch }, { signal });
        attempt = 0;
        this.onAck(answer.ackedSeq, answer.rejections);
      } catch (failure) {
        if (signal.aborted) break;
        if (!isUnauthenticated(failure) && !isTransient(failure)) throw failure;
        attempt += 1;
        await this.recover(failure, token, attempt, this.backoff(attempt));
      }
    }
  }
}
