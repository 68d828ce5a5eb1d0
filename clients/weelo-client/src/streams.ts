/**
 * Server streams that survive a dropped connection, a restart of the server and an expired
 * access token: each reconnects with jittered backoff and resumes where it was. WatchBooking passes the
 * last sequence it saw (the server sends the current state, then every change after it);
 * WatchOffers gets every open offer again and the SDK closes the ones that were not re-sent.
 */
import type { Client } from "@connectrpc/connect";
import { BookingStatus } from "@weelo/contracts/es/weelo/booking/v1/booking_pb";
import type { BookingService, WatchBookingResponse } from "@weelo/contracts/es/weelo/booking/v1/booking_service_pb";
import type { Offer } from "@weelo/contracts/es/weelo/dispatch/v1/dispatch_pb";
import type { DispatchService, WatchOffersResponse } from "@weelo/contracts/es/weelo/dispatch/v1/dispatch_service_pb";
import { backoffMs } from "./backoff.js";
import { isStreamBreak, isTransient, isUnauthenticated } from "./errors.js";
import type { Session } from "./session.js";

/** Why a stream is about to reconnect: the server ended it early, or it failed (transient or an expired token). */
export interface StreamBreak {
  error: unknown | undefined;
  /** Consecutive breaks without a message in between (1 for the first). */
  attempt: number;
  /** How long the stream waits before reconnecting, ms. */
  waitMs: number;
}

export interface ResumeOptions {
  /** Stops the stream (and its reconnects); the iteration then just ends. */
  signal?: AbortSignal;
  /** Told of every break before the reconnect (for a status line, logs, counts). */
  onBreak?: (event: StreamBreak) => void;
  /** First wait before reconnecting, doubled per failed attempt up to maxBackoffMs, half of it random. Default 200. */
  initialBackoffMs?: number;
  /** Longest wait between reconnects. Default 3000. */
  maxBackoffMs?: number;
}

/** Waits ms, or less if the signal aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * The reconnect loop shared by the streams: opens, yields, and after a break renews the token
 * (Unauthenticated) or waits (transient, or ended early) and opens again. A failure that is the
 * request's (not found, permission denied) is thrown; an aborted signal ends the iteration.
 */
async function* resuming<T>(
  session: Session,
  options: ResumeOptions,
  open: (signal: AbortSignal | undefined) => AsyncIterable<T>,
  complete: () => boolean,
): AsyncGenerator<T> {
  const { signal, onBreak, initialBackoffMs = 200, maxBackoffMs = 3000 } = options;
  let attempt = 0;
  while (!signal?.aborted) {
    const token = await session.accessToken();
    let error: unknown;
    try {
      for await (const message of open(signal)) {
        attempt = 0;
        yield message;
      }
      if (complete()) return;
    } catch (failure) {
      if (signal?.aborted) return;
      if (!isUnauthenticated(failure) && !isStreamBreak(failure, signal)) throw failure;
      error = failure;
    }
    attempt += 1;
    const waitMs = backoffMs(attempt, initialBackoffMs, maxBackoffMs);
    onBreak?.({ error, attempt, waitMs });
    // A refused refresh token ends the session: SessionEndedError goes to the caller.
    if (isUnauthenticated(error))
      await session.renew(token).catch((failure) => {
        if (!isTransient(failure)) throw failure;
        return pause(waitMs, signal);
      });
    else await pause(waitMs, signal);
  }
}

const FINAL = new Set([BookingStatus.COMPLETED, BookingStatus.CANCELLED]);

/**
 * Follows a booking until it is completed or cancelled: the current state first, then every
 * change in order, none lost across reconnects (each reconnect yields the current state again,
 * then the changes after the last one seen).
 */
export function watchBooking(
  bookings: Client<typeof BookingService>,
  session: Session,
  bookingId: string,
  options: ResumeOptions & { afterSequence?: bigint } = {},
): AsyncGenerator<WatchBookingResponse> {
  let after = options.afterSequence ?? 0n;
  let status: BookingStatus | undefined;
  const open = (signal: AbortSignal | undefined) =>
    (async function* () {
      for await (const message of bookings.watchBooking({ bookingId, afterSequence: after }, { signal })) {
        if (message.booking) {
          // The state's sequence may be ahead of changes still to come: resume after it only on a first stream.
          if (after === 0n) after = message.sequence;
          status ??= message.booking.status;
        } else if (message.change) {
          after = message.change.sequence;
          status = message.change.to;
        }
        yield message;
      }
    })();
  return resuming(session, options, open, () => status !== undefined && FINAL.has(status));
}

/**
 * The transporter's offers for as long as the app wants them: every open offer, caughtUp, then
 * new, changed and closed offers. After a reconnect the server sends the open offers again; an
 * offer the app held open that is not among them closed meanwhile, and comes as `closed`.
 */
export function watchOffers(
  dispatch: Client<typeof DispatchService>,
  session: Session,
  options: ResumeOptions = {},
): AsyncGenerator<WatchOffersResponse> {
  const open = new Map<string, Offer>();
  const stream = (signal: AbortSignal | undefined) =>
    (async function* () {
      const resent = new Set<string>();
      let caughtUp = false;
      for await (const message of dispatch.watchOffers({}, { signal })) {
        const kind = message.kind;
        if (kind.case === "offer") {
          open.set(kind.value.id, kind.value);
          if (!caughtUp) resent.add(kind.value.id);
        } else if (kind.case === "closed") {
          open.delete(kind.value.id);
        } else if (kind.case === "caughtUp") {
          caughtUp = true;
          for (const [id, offer] of open) {
            if (resent.has(id)) continue;
            open.delete(id);
            yield { ...message, kind: { case: "closed", value: offer } } as WatchOffersResponse;
          }
        }
        yield message;
      }
    })();
  // Offers have no last message: the stream is never complete, every end is a break.
  return resuming(session, options, stream, () => false);
}
