/**
 * BookingDispatchService's steps, called by dispatch only (over the mesh): confirm for the
 * transporter who took the booking, assign its driver and vehicle, reopen, and expire a booking
 * nobody took. Each is idempotent: a retry of a step already made returns the booking.
 */
import { FailedPreconditionError } from "@weelo/errors";
import type { BookingContext } from "./booking.context.js";
import { BOOKING_EXPIRED_EVENT, BOOKING_REOPENED_EVENT, BOOKING_STATUS_CHANGED_EVENT } from "./booking.events.js";
import {
  checkDispatchStep,
  checkReopen,
  DISPATCH_REOPENABLE,
  illegalTransition,
  validateId,
  validateText,
} from "./booking.rules.js";
import { CLEARED_ASSIGNMENT, type Transitions } from "./booking-transition.js";
import type { BookingRow } from "./booking.table.js";

export interface Assignment {
  transporterId: string;
  driverId: string;
  driverUserId: string;
  vehicleId: string;
}

/** The cancellation reason of a booking dispatch could not place. */
const NO_TRANSPORTER_FOUND = "NO_TRANSPORTER_FOUND";

export function createDispatchSteps(
  ctx: Pick<BookingContext, "dispatchBooking">,
  transitions: Pick<Transitions, "transition" | "transitionOrExplain" | "explainLostRace">,
) {
  const { dispatchBooking } = ctx;
  const { transition, transitionOrExplain, explainLostRace } = transitions;

  /** PENDING → CONFIRMED for a transporter; a retry by the same transporter returns the booking. */
  async function confirmBooking(bookingId: string, transporterIdText: string): Promise<BookingRow> {
    const transporterId = validateId(transporterIdText, "transporter_id");
    const booking = await dispatchBooking(bookingId);
    if (booking.status === "confirmed" && booking.transporter_id === transporterId) return booking;
    checkDispatchStep(booking.status, "confirmed");
    return transitionOrExplain({
      booking,
      to: "confirmed",
      set: { transporter_id: transporterId },
      actorRole: "dispatch",
      actorId: transporterId,
      event: BOOKING_STATUS_CHANGED_EVENT,
    });
  }

  /** CONFIRMED → ASSIGNED with the confirming transporter's driver and vehicle; a retry returns the booking. */
  async function assignBooking(bookingId: string, input: Assignment): Promise<BookingRow> {
    const transporterId = validateId(input.transporterId, "transporter_id");
    const driverId = validateId(input.driverId, "driver_id");
    const driverUserId = validateId(input.driverUserId, "driver_user_id");
    const vehicleId = validateId(input.vehicleId, "vehicle_id");
    const booking = await dispatchBooking(bookingId);
    if (
      booking.status === "assigned" &&
      booking.transporter_id === transporterId &&
      booking.driver_id === driverId &&
      booking.vehicle_id === vehicleId
    )
      return booking;
    checkDispatchStep(booking.status, "assigned");
    if (booking.transporter_id !== transporterId) {
      throw new FailedPreconditionError("the booking was confirmed by another transporter", {
        reason: "TRANSPORTER_MISMATCH",
        field: "transporter_id",
      });
    }
    const updated = await transition({
      booking,
      to: "assigned",
      set: { driver_id: driverId, driver_user_id: driverUserId, vehicle_id: vehicleId },
      actorRole: "dispatch",
      actorId: transporterId,
      event: BOOKING_STATUS_CHANGED_EVENT,
    });
    return updated ?? explainLostRace(booking.id, "assigned");
  }

  /** CONFIRMED or ASSIGNED → PENDING, transporter and driver cleared (booking.reopened). */
  async function reopenBooking(bookingId: string, reasonText: string): Promise<BookingRow> {
    const reason = validateText(reasonText, "reason");
    const booking = await dispatchBooking(bookingId);
    checkReopen(booking.status, DISPATCH_REOPENABLE);
    return transitionOrExplain({
      booking,
      to: "pending",
      set: CLEARED_ASSIGNMENT,
      actorRole: "dispatch",
      actorId: booking.transporter_id ?? "",
      reason,
      reopened: true,
      event: BOOKING_REOPENED_EVENT,
    });
  }

  /**
   * PENDING → CANCELLED because dispatch's broadcast ended with nobody taking the booking
   * (reason NO_TRANSPORTER_FOUND, booking.expired); a retry returns the booking.
   */
  async function expireBooking(bookingId: string): Promise<BookingRow> {
    const booking = await dispatchBooking(bookingId);
    if (booking.status === "cancelled" && booking.cancellation_reason === NO_TRANSPORTER_FOUND) return booking;
    if (booking.status !== "pending") throw illegalTransition(booking.status, "cancelled");
    return transitionOrExplain({
      booking,
      to: "cancelled",
      set: { cancellation_fee_paise: 0, cancellation_reason: NO_TRANSPORTER_FOUND },
      actorRole: "dispatch",
      actorId: "",
      reason: NO_TRANSPORTER_FOUND,
      event: BOOKING_EXPIRED_EVENT,
    });
  }

  return { confirmBooking, assignBooking, reopenBooking, expireBooking };
}
