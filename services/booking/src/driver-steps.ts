/**
 * UpdateBookingStatus: the assigned driver's trip steps (DRIVER_EN_ROUTE … COMPLETED), with the
 * pickup and delivery codes (attempts counted and locked after too many wrong ones) and, where
 * tracking is wired, the check that the driver is at the stop.
 */
import type { Principal } from "@weelo/auth";
import type { BookingContext } from "./booking.context.js";
import { BOOKING_STATUS_CHANGED_EVENT } from "./booking.events.js";
import * as repo from "./booking.repository.js";
import {
  codeLocked,
  codeMatches,
  codeRefusal,
  planDriverStep,
  validatePoint,
  type CodeKind,
  type Point,
  type Relation,
} from "./booking.rules.js";
import type { Transitions } from "./booking-transition.js";
import type { BookingRow, BookingStatus } from "./booking.table.js";

export function createDriverSteps(
  ctx: Pick<BookingContext, "db" | "now" | "settings" | "logger" | "arrivals" | "visibleBooking">,
  transitions: Pick<Transitions, "transition" | "explainLostRace">,
) {
  const { db, now, settings, logger, visibleBooking } = ctx;
  const { transition, explainLostRace } = transitions;

  /** Counts the attempt first (concurrent guesses cannot outrun the limit), then compares. */
  async function checkTripCode(booking: BookingRow, kind: CodeKind, given: string): Promise<void> {
    const at = now();
    const { max, lockMs } = settings.codeAttempts;
    const attempt = await repo.claimCodeAttempt(db, booking.id, settings.codeAttempts, at);
    if (!attempt)
      throw codeLocked(kind, (await repo.codeLockedUntil(db, booking.id)) ?? new Date(at.getTime() + lockMs), at);
    if (codeMatches(kind === "pickup" ? booking.pickup_code : booking.delivery_code, given)) return;
    logger.warn({ bookingId: booking.id, kind, failures: attempt.failures }, "wrong trip code");
    throw codeRefusal(kind, max - attempt.failures, Math.round(lockMs / 60_000));
  }

  /**
   * The assigned driver's trip steps, with the pickup and delivery codes. A step the booking
   * already took is answered with the booking as it is (an app retrying after a lost answer,
   * or sending twice), without a second change or event.
   */
  async function updateStatus(
    principal: Principal,
    bookingId: string,
    requested: BookingStatus,
    location: Point | undefined,
    code: string,
  ): Promise<{ booking: BookingRow; relation: Relation }> {
    const { booking, relation } = await visibleBooking(principal, bookingId);
    if (relation === "driver" && booking.status === requested) return { booking, relation };
    const plan = planDriverStep(booking.status, requested, relation);
    const at = location ? validatePoint(location, "location") : undefined;
    if (plan.code) await checkTripCode(booking, plan.code, code);
    if (ctx.arrivals && booking.driver_id && (requested === "at_pickup" || requested === "at_dropoff")) {
      const stop = requested === "at_pickup" ? "pickup" : "drop";
      await ctx.arrivals.check({
        bookingId: booking.id,
        driverId: booking.driver_id,
        stop,
        stopLocation: booking[stop].location,
      });
    }
    const updated = await transition({
      booking,
      to: requested,
      // An accepted code starts a fresh count for the next one.
      ...(plan.code ? { set: { code_failures: 0, code_locked_until: null } } : {}),
      actorRole: "driver",
      actorId: principal.userId,
      location: at,
      event: BOOKING_STATUS_CHANGED_EVENT,
    });
    if (updated) return { booking: updated, relation };
    // The same step sent twice at once: the other request took it.
    const current = await repo.findBooking(db, booking.id);
    if (current?.status === requested && current.driver_id === booking.driver_id) return { booking: current, relation };
    return explainLostRace(booking.id, requested);
  }

  return updateStatus;
}
