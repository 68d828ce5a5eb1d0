/**
 * The one way a booking's status changes. Every change is one transaction: the conditional
 * UPDATE (status = expected, sequence + 1), the history row with that sequence, and the outbox
 * event with that sequence. The transition table (TRANSITIONS in booking.rules.ts) is enforced
 * here, whatever the use case checked before.
 */
import type { Insertable } from "kysely";
import { bookingNotFound, type BookingContext } from "./booking.context.js";
import { recordStatusChange, type PreviousAssignment, type StatusEventType } from "./booking.events.js";
import * as repo from "./booking.repository.js";
import { checkTransition, illegalTransition, type Point } from "./booking.rules.js";
import type { ActorRole, BookingRow, BookingStatus, BookingStatusHistoryTable, HistoryRow } from "./booking.table.js";

export interface StatusChange {
  booking: BookingRow;
  to: BookingStatus;
  set?: Parameters<typeof repo.transitionBooking>[1]["set"];
  actorRole: ActorRole;
  actorId: string;
  reason?: string;
  location?: Point | undefined;
  reopened?: boolean;
  feePaise?: number;
  event: StatusEventType;
  /** A reassignment: the pair released (in the event), and the update also requires the booking's sequence unchanged (its status does not change). */
  previous?: PreviousAssignment;
}

/** The transporter, driver and vehicle of a booking put back to PENDING. */
export const CLEARED_ASSIGNMENT = {
  transporter_id: null,
  driver_id: null,
  driver_user_id: null,
  vehicle_id: null,
} as const;

export function createTransitions(ctx: Pick<BookingContext, "db" | "now" | "root" | "events" | "logger">) {
  const { db, now, root, events, logger } = ctx;

  /**
   * Applies one transition in one transaction; FAILED_PRECONDITION ILLEGAL_STATUS_TRANSITION when
   * the table does not allow it; undefined when the booking was no longer in the status the
   * change expected (the caller explains from a fresh read).
   */
  async function transition(change: StatusChange): Promise<BookingRow | undefined> {
    checkTransition(change.booking.status, change.to, change.actorRole);
    const at = now();
    const updated = await db.transaction().execute(async (trx) => {
      const row = await repo.transitionBooking(trx, {
        id: change.booking.id,
        expected: change.booking.status,
        to: change.to,
        set: change.set ?? {},
        now: at,
        ...(change.previous ? { expectedSequence: change.booking.sequence } : {}),
      });
      if (!row) return undefined;
      const entry: Insertable<BookingStatusHistoryTable> = {
        booking_id: row.id,
        sequence: row.sequence,
        from_status: change.booking.status,
        to_status: change.to,
        actor_role: change.actorRole,
        actor_id: change.actorId,
        reason: change.reason ?? "",
        lat: change.location?.lat ?? null,
        lng: change.location?.lng ?? null,
        reopened: change.reopened ?? false,
        cancellation_fee_paise: change.feePaise ?? 0,
        occurred_at: at,
      };
      await repo.insertHistory(trx, [entry]);
      const history: HistoryRow = {
        ...entry,
        sequence: String(row.sequence),
        reopened: entry.reopened ?? false,
        cancellation_fee_paise: String(entry.cancellation_fee_paise),
      } as HistoryRow;
      await recordStatusChange(trx, root, change.event, row, history, change.previous);
      return row;
    });
    if (updated) {
      events.committed();
      logger.info(
        {
          bookingId: updated.id,
          from: change.booking.status,
          to: change.to,
          actor: change.actorRole,
          sequence: updated.sequence,
        },
        "booking status changed",
      );
    }
    return updated;
  }

  /** Why a conditional transition matched no row: the booking moved meanwhile. */
  async function explainLostRace(bookingId: string, requested: BookingStatus): Promise<never> {
    const current = await repo.findBooking(db, bookingId);
    if (!current) throw bookingNotFound();
    throw illegalTransition(current.status, requested);
  }

  async function transitionOrExplain(change: StatusChange): Promise<BookingRow> {
    return (await transition(change)) ?? explainLostRace(change.booking.id, change.to);
  }

  return { transition, explainLostRace, transitionOrExplain };
}

export type Transitions = ReturnType<typeof createTransitions>;
