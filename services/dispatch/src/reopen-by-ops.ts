/**
 * ReopenBookingByOps: operations take a CONFIRMED, ASSIGNED or DRIVER_EN_ROUTE booking back from
 * its transporter. One conditional update releases the acceptance and the claim of driver and
 * vehicle (state reopening, a ReopenBooking owed with the operations user and reason); a
 * transporter's AssignDriver racing it loses its own conditional claim, or, if it came first,
 * its AssignBooking reaches booking before or after the reopen and booking's order of events
 * decides (the reopen's booking.reopened puts the row back to open either way). Booking's
 * booking.reopened then brings the booking back to broadcast like any reopen: a new round from
 * the first wave when the order's broadcast had ended. A booking open already answers
 * reopened = false.
 */
import { FailedPreconditionError, NotFoundError } from "@weelo/errors";
import type { BookingCalls } from "./booking-calls.js";
import type { DispatchContext } from "./dispatch.context.js";
import * as repo from "./dispatch.repository.js";
import { validateId, validateReason } from "./dispatch.rules.js";
import type { DispatchBookingRow } from "./dispatch.table.js";

/** Fresh looks before giving up when other changes keep coming first. */
const ATTEMPTS = 5;

export interface OpsReopened {
  bookingId: string;
  previousTransporterId: string;
  previousDriverId: string;
  reopened: boolean;
}

export function createReopenByOps(ctx: DispatchContext, calls: Pick<BookingCalls, "makeBookingCall">) {
  const { db, settings, logger, now, later } = ctx;
  const { makeBookingCall } = calls;

  return async function reopenByOps(
    input: { bookingId: string; opsUserId: string; reason: string },
    attempt = 1,
  ): Promise<OpsReopened> {
    const bookingId = validateId(input.bookingId, "booking_id");
    const opsUserId = validateId(input.opsUserId, "ops_user_id");
    const reason = validateReason(input.reason);
    const row = await repo.findBooking(db, bookingId);
    if (!row) throw new NotFoundError("booking not found", { reason: "BOOKING_NOT_FOUND", field: "booking_id" });
    const answer = (from: DispatchBookingRow, reopened: boolean): OpsReopened => ({
      bookingId,
      previousTransporterId: from.transporter_id ?? "",
      previousDriverId: from.driver_id ?? "",
      reopened,
    });
    if (row.state === "open") return answer(row, false);
    // A reopen owed already (operations' retry, or a missed deadline): make the call now.
    if (row.state === "reopening" && row.booking_call === "reopen") {
      await makeBookingCall(row);
      return answer(row, true);
    }
    if (row.state !== "accepted" && row.state !== "assigned") {
      throw new FailedPreconditionError(`the booking is ${row.state} in dispatch and cannot be reopened`, {
        reason: "ILLEGAL_STATUS_TRANSITION",
        field: "booking_id",
      });
    }
    const at = now();
    const claimed = await repo.updateBooking(
      db,
      bookingId,
      {
        state: "reopening",
        driver_id: null,
        driver_user_id: null,
        vehicle_id: null,
        assigned_at: null,
        booking_call: "reopen",
        booking_call_due_at: later(settings.leaseMs, at),
        booking_call_attempts: 0,
        booking_call_ops_user_id: opsUserId,
        booking_call_reason: reason,
      },
      // Whatever call is owed (an AssignBooking in flight is answered by booking in its own order).
      { states: [row.state], bookingCall: "any", transporterId: row.transporter_id ?? undefined },
    );
    if (!claimed) {
      // Someone else changed it first (the transporter's assignment, an event): decide again.
      if (attempt < ATTEMPTS) return reopenByOps(input, attempt + 1);
      throw new FailedPreconditionError("the booking kept changing; try again", { reason: "CONCURRENT_CHANGE" });
    }
    logger.info({ bookingId, opsUserId, transporterId: row.transporter_id }, "booking reopened by operations");
    await makeBookingCall(claimed);
    return answer(row, true);
  };
}
