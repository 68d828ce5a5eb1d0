/**
 * Booking calls: the calls dispatch owes booking (confirm, assign, reopen, expire, and
 * operations' reassign). One is
 * recorded on its booking row (bookings.booking_call, due at bookings.booking_call_due_at) in the same
 * transaction as the change that needs it, made at once, and retried by the poller until
 * booking answers: a crash between the claim and the call loses nothing.
 */
import { DomainError } from "@weelo/errors";
import type { DispatchContext } from "./dispatch.context.js";
import * as repo from "./dispatch.repository.js";
import { isPermanentFailure, retryDelayMs } from "./dispatch.rules.js";
import type { DispatchBookingRow } from "./dispatch.table.js";

const REOPEN_REASON = "the transporter did not assign a driver in time";

export type BookingCalls = ReturnType<typeof createBookingCalls>;

export function createBookingCalls(ctx: DispatchContext) {
  const { db, upstreams, settings, logger, metrics, now, later } = ctx;

  /**
   * Makes the booking call a row owes. Success clears the debt; a refusal (the booking moved:
   * cancelled by its customer, or changed by someone else) settles it the way the refusal
   * says; anything else (booking down, a deadline) leaves it owed with a later due time.
   */
  async function makeBookingCall(row: DispatchBookingRow): Promise<void> {
    const kind = row.booking_call;
    if (!kind) return;
    const settled = { booking_call: null, booking_call_due_at: null, booking_call_attempts: 0 } as const;
    try {
      switch (kind) {
        case "confirm":
          await upstreams.booking.confirmBooking({ bookingId: row.booking_id, transporterId: row.transporter_id! });
          await repo.updateBooking(db, row.booking_id, settled, { bookingCall: "confirm" });
          break;
        case "assign": {
          await upstreams.booking.assignBooking({
            bookingId: row.booking_id,
            transporterId: row.transporter_id!,
            driverId: row.driver_id!,
            driverUserId: row.driver_user_id!,
            vehicleId: row.vehicle_id!,
          });
          // Booking's ASSIGNED event reaches tracking, which tells the driver's stream (durably).
          await repo.updateBooking(db, row.booking_id, settled, { bookingCall: "assign" });
          break;
        }
        case "reopen":
          // Dispatch's own reopen (a missed deadline) gives its fixed reason; operations' their own.
          await upstreams.booking.reopenBooking({
            bookingId: row.booking_id,
            reason: row.booking_call_ops_user_id ? row.booking_call_reason : REOPEN_REASON,
            opsUserId: row.booking_call_ops_user_id ?? "",
          });
          await repo.updateBooking(db, row.booking_id, settled, { bookingCall: "reopen" });
          break;
        case "reassign":
          await upstreams.booking.reassignBooking({
            bookingId: row.booking_id,
            driverId: row.driver_id!,
            driverUserId: row.driver_user_id!,
            vehicleId: row.vehicle_id!,
            opsUserId: row.booking_call_ops_user_id ?? "",
            reason: row.booking_call_reason,
          });
          // Booking's booking.reassigned reaches tracking, fleet and notification.
          await repo.updateBooking(db, row.booking_id, settled, { bookingCall: "reassign" });
          break;
        case "expire":
          await upstreams.booking.expireBooking({ bookingId: row.booking_id });
          await repo.updateBooking(db, row.booking_id, { ...settled, state: "expired" }, { bookingCall: "expire" });
          break;
      }
      metrics.bookingCalls.inc({ call: kind, result: "ok" });
    } catch (error) {
      const code = error instanceof DomainError ? error.code : undefined;
      if (isPermanentFailure(code)) {
        metrics.bookingCalls.inc({ call: kind, result: "refused" });
        logger.warn(
          { err: error, bookingId: row.booking_id, call: kind },
          "booking refused a call dispatch owed it; settled as refused",
        );
        // confirm/expire: the booking left PENDING (its customer cancelled). assign: it is no longer
        // CONFIRMED for this transporter; the driver and vehicle are released. reopen: it already moved.
        // reassign: it left ASSIGNED / DRIVER_EN_ROUTE (a trip step, a cancellation): the driver and
        // vehicle it had come back (a cancellation's event then frees them as usual).
        const refused =
          kind === "confirm" || kind === "expire"
            ? { ...settled, state: "cancelled" as const }
            : kind === "assign"
              ? {
                  ...settled,
                  state: "accepted" as const,
                  driver_id: null,
                  driver_user_id: null,
                  vehicle_id: null,
                  assigned_at: null,
                }
              : kind === "reassign"
                ? {
                    ...settled,
                    driver_id: row.previous_driver_id,
                    driver_user_id: row.previous_driver_user_id,
                    vehicle_id: row.previous_vehicle_id,
                  }
                : settled;
        await repo.updateBooking(db, row.booking_id, refused, { bookingCall: kind }).catch(async (restoreError) => {
          // The released pair was claimed by another booking meanwhile: the call is settled, the pair stays.
          logger.error(
            { err: restoreError, bookingId: row.booking_id },
            "could not restore the pair a refused reassignment released",
          );
          await repo.updateBooking(db, row.booking_id, settled, { bookingCall: kind });
        });
        throw error;
      }
      metrics.bookingCalls.inc({ call: kind, result: "retry" });
      const attempts = Math.max(1, row.booking_call_attempts);
      await repo
        .updateBooking(
          db,
          row.booking_id,
          { booking_call_due_at: later(retryDelayMs(attempts, settings.bookingCallRetryMs)) },
          { bookingCall: kind },
        )
        .catch(() => undefined);
      logger.warn(
        { err: error, bookingId: row.booking_id, call: kind, attempts },
        "a booking call failed; retrying later",
      );
      throw error;
    }
  }

  const makeBookingCallQuietly = (row: DispatchBookingRow) =>
    makeBookingCall(row).then(
      () => true,
      () => false,
    );

  /** Booking calls that are due (after a crash, or booking being down): made again. */
  async function runDueBookingCalls(limit = 50): Promise<number> {
    const at = now();
    const rows = await repo.claimDueBookingCalls(db, { now: at, leaseUntil: later(settings.leaseMs, at), limit });
    await Promise.all(rows.map(makeBookingCallQuietly));
    return rows.length;
  }

  /** Acceptances past their assign deadline: each booking is reopened, and comes back to broadcast. */
  async function runMissedDeadlines(limit = 50): Promise<number> {
    const at = now();
    const rows = await repo.claimMissedDeadlines(db, { now: at, leaseUntil: later(settings.leaseMs, at), limit });
    for (const row of rows)
      logger.info(
        { bookingId: row.booking_id, transporterId: row.transporter_id },
        "assign deadline passed: reopening the booking",
      );
    await Promise.all(rows.map(makeBookingCallQuietly));
    return rows.length;
  }

  return { makeBookingCall, makeBookingCallQuietly, runDueBookingCalls, runMissedDeadlines };
}
