/**
 * CancelBooking: the customer cancels (free before a driver is assigned, with a fee until
 * loading); the transporter or driver gives the booking up, which reopens it (PENDING again).
 */
import type { Principal } from "@weelo/auth";
import { InvalidArgumentError } from "@weelo/errors";
import type { BookingContext } from "./booking.context.js";
import { BOOKING_CANCELLED_EVENT, BOOKING_REOPENED_EVENT } from "./booking.events.js";
import {
  checkReopen,
  PARTICIPANT_REOPENABLE,
  planCustomerCancellation,
  validateText,
  type Relation,
} from "./booking.rules.js";
import { CLEARED_ASSIGNMENT, type Transitions } from "./booking-transition.js";
import type { BookingRow } from "./booking.table.js";

export function createCancelBooking(
  ctx: Pick<BookingContext, "settings" | "visibleBooking">,
  transitions: Pick<Transitions, "transitionOrExplain">,
) {
  const { settings, visibleBooking } = ctx;
  const { transitionOrExplain } = transitions;

  /** The customer cancels (free, or with a fee); the transporter or driver gives the booking up (reopen). */
  async function cancelBooking(
    principal: Principal,
    bookingId: string,
    reasonText: string,
  ): Promise<{ booking: BookingRow; relation: Relation; feePaise: number; reopened: boolean }> {
    const { booking, relation } = await visibleBooking(principal, bookingId);
    const reason = validateText(reasonText, "reason");
    if (relation === "customer") {
      const { feePaise } = planCustomerCancellation(
        booking.status,
        Number(booking.fare_paise),
        settings.cancellationFee,
      );
      const updated = await transitionOrExplain({
        booking,
        to: "cancelled",
        set: { cancellation_fee_paise: feePaise, cancellation_reason: reason },
        actorRole: "customer",
        actorId: principal.userId,
        reason,
        feePaise,
        event: BOOKING_CANCELLED_EVENT,
      });
      return { booking: updated, relation, feePaise, reopened: false };
    }
    if (reason === "")
      throw new InvalidArgumentError("reason", "reason is required when a transporter or driver gives a booking up");
    checkReopen(booking.status, PARTICIPANT_REOPENABLE);
    const updated = await transitionOrExplain({
      booking,
      to: "pending",
      set: CLEARED_ASSIGNMENT,
      actorRole: relation,
      actorId: principal.userId,
      reason,
      reopened: true,
      event: BOOKING_REOPENED_EVENT,
    });
    return { booking: updated, relation, feePaise: 0, reopened: true };
  }

  return cancelBooking;
}
