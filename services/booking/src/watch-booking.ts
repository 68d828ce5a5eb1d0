/**
 * WatchBooking: the booking's state, then each change, read from the database (the source of
 * truth) when an event of the booking is published, or every WATCH_POLL_MS as a safety net.
 */
import type { Principal } from "@weelo/auth";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import { InvalidArgumentError } from "@weelo/errors";
import type { BookingContext } from "./booking.context.js";
import * as repo from "./booking.repository.js";
import { validateId, type Relation } from "./booking.rules.js";
import type { BookingRow, BookingStatus, HistoryRow } from "./booking.table.js";
import { Wakeable } from "@weelo/runtime/polling";

/** One message of a watch: the current state first, then each change. */
export type WatchEvent =
  | { kind: "state"; booking: BookingRow; relation: Relation }
  | { kind: "change"; change: HistoryRow };

/** After these a booking never changes again: the watch ends. */
const TERMINAL: readonly BookingStatus[] = ["completed", "cancelled"];

export function createWatchBooking(ctx: Pick<BookingContext, "db" | "bus" | "root" | "settings" | "visibleBooking">) {
  const { db, bus, root, settings, visibleBooking } = ctx;

  /**
   * The booking's current state, then its changes in sequence order, read from the database
   * (the source of truth) whenever an event of this booking is published or every
   * WATCH_POLL_MS; ends after a final status (COMPLETED, CANCELLED) or when `signal` aborts.
   */
  async function* watch(
    principal: Principal,
    bookingId: string,
    afterSequence: number,
    signal: AbortSignal,
  ): AsyncGenerator<WatchEvent> {
    if (!Number.isSafeInteger(afterSequence) || afterSequence < 0)
      throw new InvalidArgumentError("after_sequence", "after_sequence must not be negative");
    const id = validateId(bookingId, "booking_id");
    let woken = false;
    const waker = new Wakeable();
    const subscription = bus.subscribe(`${root}.>`, (msg) => {
      try {
        if (EventEnvelope.decode(msg.data).subjectId !== id) return;
      } catch {
        return;
      }
      woken = true;
      waker.wake();
    });
    try {
      const { booking, relation } = await visibleBooking(principal, id);
      yield { kind: "state", booking, relation };
      let last = afterSequence > 0 ? afterSequence : Number(booking.sequence);
      let status = booking.status;
      while (!signal.aborted) {
        woken = false;
        for (const change of await repo.historyAfter(db, id, last)) {
          if (signal.aborted) return;
          yield { kind: "change", change };
          last = Number(change.sequence);
          status = change.to_status;
        }
        if (TERMINAL.includes(status) && last >= Number(booking.sequence)) return;
        if (woken) continue;
        await waker.pause(settings.watchPollMs, signal);
      }
    } finally {
      subscription.unsubscribe();
    }
  }

  return watch;
}
