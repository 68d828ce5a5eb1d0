/**
 * BookingDispatchService's steps, called by dispatch only (over the mesh): confirm for the
 * transporter who took the booking, assign its driver and vehicle, reopen, and expire a booking
 * nobody took. Each is idempotent: a retry of a step already made, or a concurrent call making
 * the same step, returns the booking.
 */
import { FailedPreconditionError } from "@weelo/errors";
import type { BookingContext } from "./booking.context.js";
import { BOOKING_EXPIRED_EVENT, BOOKING_REOPENED_EVENT, BOOKING_STATUS_CHANGED_EVENT } from "./booking.events.js";
import {
  checkDispatchStep,
  checkReopen,
  DISPATCH_REOPENABLE,
  illegalTransition,
  OPS_REOPENABLE,
  validateId,
  validateText,
} from "./booking.rules.js";
import { CLEARED_ASSIGNMENT, type Transitions } from "./booking-transition.js";
import { BOOKING_STATUSES, type BookingRow, type BookingStatus } from "./booking.table.js";

export interface Assignment {
  transporterId: string;
  driverId: string;
  driverUserId: string;
  vehicleId: string;
}

/** The cancellation reason of a booking dispatch could not place. */
const NO_TRANSPORTER_FOUND = "NO_TRANSPORTER_FOUND";

/** Statuses a booking passes through once confirmed, and once assigned (cancelled is not one). */
const CONFIRMED_OR_LATER = new Set<BookingStatus>(BOOKING_STATUSES.slice(1, -1));
const ASSIGNED_OR_LATER = new Set<BookingStatus>(BOOKING_STATUSES.slice(2, -1));

export function createDispatchSteps(
  ctx: Pick<BookingContext, "dispatchBooking">,
  transitions: Pick<Transitions, "transition" | "transitionOrExplain" | "explainLostRace">,
) {
  const { dispatchBooking } = ctx;
  const { transition, transitionOrExplain, explainLostRace } = transitions;

  /**
   * A step whose conditional update found the row changed: when the change was this same step
   * (the other dispatch replica's call, or a retry whose first answer was lost), it is this
   * call's success too; dispatch would otherwise take the refusal as final and drop a booking
   * that booking holds. Anything else is refused as the status table says.
   */
  async function afterLostRace(
    bookingId: string,
    requested: BookingStatus,
    made: (booking: BookingRow) => boolean,
  ): Promise<BookingRow> {
    const current = await dispatchBooking(bookingId);
    return made(current) ? current : explainLostRace(bookingId, requested);
  }

  /** PENDING → CONFIRMED for a transporter; a retry by the same transporter returns the booking. */
  async function confirmBooking(bookingId: string, transporterIdText: string): Promise<BookingRow> {
    const transporterId = validateId(transporterIdText, "transporter_id");
    const confirmed = (row: BookingRow) => CONFIRMED_OR_LATER.has(row.status) && row.transporter_id === transporterId;
    const booking = await dispatchBooking(bookingId);
    if (confirmed(booking)) return booking;
    checkDispatchStep(booking.status, "confirmed");
    const updated = await transition({
      booking,
      to: "confirmed",
      set: { transporter_id: transporterId },
      actorRole: "dispatch",
      actorId: transporterId,
      event: BOOKING_STATUS_CHANGED_EVENT,
    });
    return updated ?? afterLostRace(booking.id, "confirmed", confirmed);
  }

  /** CONFIRMED → ASSIGNED with the confirming transporter's driver and vehicle; a retry returns the booking. */
  async function assignBooking(bookingId: string, input: Assignment): Promise<BookingRow> {
    const transporterId = validateId(input.transporterId, "transporter_id");
    const driverId = validateId(input.driverId, "driver_id");
    const driverUserId = validateId(input.driverUserId, "driver_user_id");
    const vehicleId = validateId(input.vehicleId, "vehicle_id");
    const assigned = (row: BookingRow) =>
      ASSIGNED_OR_LATER.has(row.status) &&
      row.transporter_id === transporterId &&
      row.driver_id === driverId &&
      row.vehicle_id === vehicleId;
    const booking = await dispatchBooking(bookingId);
    if (assigned(booking)) return booking;
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
    return updated ?? afterLostRace(booking.id, "assigned", assigned);
  }

  /**
   * CONFIRMED or ASSIGNED → PENDING, transporter and driver cleared (booking.reopened). With an
   * operations user (the ops console, through dispatch) also from DRIVER_EN_ROUTE, and the
   * history names that user (ACTOR_ROLE_OPS); a booking PENDING already is then returned unchanged.
   */
  async function reopenBooking(bookingId: string, reasonText: string, opsUserIdText = ""): Promise<BookingRow> {
    const reason = validateText(reasonText, "reason");
    const opsUserId = opsUserIdText === "" ? undefined : validateId(opsUserIdText, "ops_user_id");
    const booking = await dispatchBooking(bookingId);
    // Operations' reopen is idempotent: a booking PENDING already (a retry, or given up meanwhile) is returned.
    if (opsUserId && booking.status === "pending") return booking;
    checkReopen(booking.status, opsUserId ? OPS_REOPENABLE : DISPATCH_REOPENABLE);
    return transitionOrExplain({
      booking,
      to: "pending",
      set: CLEARED_ASSIGNMENT,
      actorRole: opsUserId ? "ops" : "dispatch",
      actorId: opsUserId ?? booking.transporter_id ?? "",
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
    const expired = (row: BookingRow) => row.status === "cancelled" && row.cancellation_reason === NO_TRANSPORTER_FOUND;
    const booking = await dispatchBooking(bookingId);
    if (expired(booking)) return booking;
    if (booking.status !== "pending") throw illegalTransition(booking.status, "cancelled");
    const updated = await transition({
      booking,
      to: "cancelled",
      set: { cancellation_fee_paise: 0, cancellation_reason: NO_TRANSPORTER_FOUND },
      actorRole: "dispatch",
      actorId: "",
      reason: NO_TRANSPORTER_FOUND,
      event: BOOKING_EXPIRED_EVENT,
    });
    return updated ?? afterLostRace(booking.id, "cancelled", expired);
  }

  return { confirmBooking, assignBooking, reopenBooking, expireBooking };
}
