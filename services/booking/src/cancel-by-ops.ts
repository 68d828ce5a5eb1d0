/**
 * CancelBookingByOps: operations cancel a booking whatever its status short of COMPLETED (the
 * OPS_TRANSITIONS edges), free of charge, naming the operations user in the history
 * (ACTOR_ROLE_OPS). booking.cancelled goes out as for a customer's cancellation, so dispatch,
 * tracking, fleet and notification react as they do to that. A CANCELLED booking is returned
 * unchanged (a retry); COMPLETED is FAILED_PRECONDITION.
 */
import type { BookingContext } from "./booking.context.js";
import { BOOKING_CANCELLED_EVENT } from "./booking.events.js";
import { illegalTransition, validateId, validateText } from "./booking.rules.js";
import type { Transitions } from "./booking-transition.js";
import type { BookingRow, BookingStatus } from "./booking.table.js";

/** Re-reads after losing to another change (a driver step) before giving up. */
const ATTEMPTS = 5;

export function createCancelByOps(
  ctx: Pick<BookingContext, "dispatchBooking">,
  transitions: Pick<Transitions, "transition">,
) {
  const { dispatchBooking } = ctx;
  const { transition } = transitions;

  return async function cancelByOps(
    bookingId: string,
    opsUserIdText: string,
    reasonText: string,
  ): Promise<{ booking: BookingRow; previousStatus: BookingStatus }> {
    const opsUserId = validateId(opsUserIdText, "ops_user_id");
    const reason = validateText(reasonText, "reason");
    for (let attempt = 1; ; attempt++) {
      const booking = await dispatchBooking(bookingId);
      if (booking.status === "cancelled") return { booking, previousStatus: "cancelled" };
      const updated = await transition({
        booking,
        to: "cancelled",
        set: { cancellation_fee_paise: 0, cancellation_reason: reason },
        actorRole: "ops",
        actorId: opsUserId,
        reason,
        event: BOOKING_CANCELLED_EVENT,
      });
      if (updated) return { booking: updated, previousStatus: booking.status };
      if (attempt >= ATTEMPTS) throw illegalTransition((await dispatchBooking(bookingId)).status, "cancelled");
    }
  };
}
