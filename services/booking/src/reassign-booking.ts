/**
 * ReassignBooking (BookingDispatchService, called by dispatch for operations): an ASSIGNED or
 * DRIVER_EN_ROUTE booking gets another driver and vehicle of the same transporter and is
 * ASSIGNED again; the history names the operations user (ACTOR_ROLE_OPS) and the reason, and
 * booking.reassigned carries the new pair and the one released. The trip codes stay: the
 * customer keeps the codes they were given and tells them to whichever driver arrives.
 * Reassigning to the pair the booking has already changes nothing (a retry).
 */
import type { BookingContext } from "./booking.context.js";
import { BOOKING_REASSIGNED_EVENT } from "./booking.events.js";
import { illegalTransition, OPS_REASSIGNABLE, validateId, validateText } from "./booking.rules.js";
import type { Transitions } from "./booking-transition.js";
import type { BookingRow } from "./booking.table.js";

export interface Reassignment {
  driverId: string;
  driverUserId: string;
  vehicleId: string;
  opsUserId: string;
  reason: string;
}

export interface Reassigned {
  booking: BookingRow;
  previousDriverId: string;
  previousVehicleId: string;
}

/** Attempts before giving up when other changes keep overtaking this one (each attempt re-reads). */
const ATTEMPTS = 3;

export function createReassignBooking(
  ctx: Pick<BookingContext, "dispatchBooking">,
  transitions: Pick<Transitions, "transition">,
) {
  const { dispatchBooking } = ctx;
  const { transition } = transitions;

  return async function reassignBooking(bookingId: string, input: Reassignment): Promise<Reassigned> {
    const driverId = validateId(input.driverId, "driver_id");
    const driverUserId = validateId(input.driverUserId, "driver_user_id");
    const vehicleId = validateId(input.vehicleId, "vehicle_id");
    const opsUserId = validateId(input.opsUserId, "ops_user_id");
    const reason = validateText(input.reason, "reason");
    for (let attempt = 1; ; attempt++) {
      const booking = await dispatchBooking(bookingId);
      if (!OPS_REASSIGNABLE.includes(booking.status)) throw illegalTransition(booking.status, "assigned");
      if (booking.driver_id === driverId && booking.vehicle_id === vehicleId)
        return { booking, previousDriverId: driverId, previousVehicleId: vehicleId };
      const previous = {
        driverId: booking.driver_id ?? "",
        driverUserId: booking.driver_user_id ?? "",
        vehicleId: booking.vehicle_id ?? "",
      };
      const updated = await transition({
        booking,
        to: "assigned",
        set: { driver_id: driverId, driver_user_id: driverUserId, vehicle_id: vehicleId },
        actorRole: "ops",
        actorId: opsUserId,
        reason,
        event: BOOKING_REASSIGNED_EVENT,
        previous,
      });
      if (updated)
        return { booking: updated, previousDriverId: previous.driverId, previousVehicleId: previous.vehicleId };
      // Another change came first (a driver step, a cancellation, another reassignment): read again.
      if (attempt >= ATTEMPTS) {
        const current = await dispatchBooking(bookingId);
        throw illegalTransition(current.status, "assigned");
      }
    }
  };
}
