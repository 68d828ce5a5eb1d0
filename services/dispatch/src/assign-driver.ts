/** AssignDriver: a transporter binds a driver and vehicle of their fleet to a booking they accepted. */
import type { Principal } from "@weelo/auth";
import { isUniqueViolation } from "@weelo/db";
import { DomainError, FailedPreconditionError, NotFoundError, UnavailableError } from "@weelo/errors";
import type { BookingCalls } from "./booking-calls.js";
import type { DispatchContext } from "./dispatch.context.js";
import { busyRefusal, confirmFleetPair } from "./fleet-check.js";
import * as repo from "./dispatch.repository.js";
import { isPermanentFailure, validateId } from "./dispatch.rules.js";
import type { DispatchBookingRow } from "./dispatch.table.js";

const bookingNotFound = () =>
  new NotFoundError("booking not found among your accepted bookings", {
    reason: "BOOKING_NOT_FOUND",
    field: "booking_id",
  });

export function createAssignDriver(
  ctx: DispatchContext,
  calls: Pick<BookingCalls, "makeBookingCall" | "makeBookingCallQuietly">,
) {
  const { db, upstreams, settings, logger, now, later } = ctx;
  const { makeBookingCall, makeBookingCallQuietly } = calls;

  /**
   * Binds one of the transporter's drivers and vehicles to a booking they accepted: fleet
   * says both are theirs and the vehicle fits; the claim (state accepted → assigned) fails on
   * a unique index when the driver or vehicle is on another active assignment; then booking
   * makes it ASSIGNED and the driver's stream is told.
   */
  async function assignDriver(
    principal: Principal,
    input: { bookingId: string; driverId: string; vehicleId: string },
  ): Promise<DispatchBookingRow> {
    const bookingId = validateId(input.bookingId, "booking_id");
    const driverId = validateId(input.driverId, "driver_id");
    const vehicleId = validateId(input.vehicleId, "vehicle_id");
    let row = await repo.findBooking(db, bookingId);
    if (!row || row.transporter_id !== principal.userId) throw bookingNotFound();
    if (row.state === "assigned" && row.driver_id === driverId && row.vehicle_id === vehicleId) return row; // a retry
    if (row.state !== "accepted") {
      throw new FailedPreconditionError(
        row.state === "assigned"
          ? "this booking already has a driver"
          : "this booking is no longer yours to assign (its deadline passed, or it was cancelled)",
        { reason: row.state === "assigned" ? "ALREADY_ASSIGNED" : "BOOKING_NOT_ASSIGNABLE", field: "booking_id" },
      );
    }
    if (row.booking_call === "confirm") {
      // The confirmation is still owed: make it now rather than wait for the poller.
      if (!(await makeBookingCallQuietly(row)))
        throw new UnavailableError("the booking is still being confirmed; try again in a moment", {
          retryAfterSeconds: 2,
        });
      row = (await repo.findBooking(db, bookingId))!;
      if (row.state !== "accepted" || row.transporter_id !== principal.userId) throw bookingNotFound();
    }
    const broadcast = await repo.findBroadcast(db, row.order_id);
    const fleet = await confirmFleetPair(upstreams.fleet, {
      transporterId: principal.userId,
      driverId,
      vehicleId,
      vehicleType: broadcast?.vehicle_type,
    });
    const at = now();
    let claimed: DispatchBookingRow | undefined;
    try {
      claimed = await repo.updateBooking(
        db,
        bookingId,
        {
          state: "assigned",
          driver_id: driverId,
          driver_user_id: fleet.driverUserId,
          vehicle_id: vehicleId,
          assigned_at: at,
          booking_call: "assign",
          booking_call_due_at: later(settings.leaseMs, at),
          booking_call_attempts: 0,
        },
        { states: ["accepted"], bookingCall: null, transporterId: principal.userId },
      );
    } catch (error) {
      if (isUniqueViolation(error)) throw busyRefusal(isUniqueViolation(error, repo.Constraint.activeVehicle));
      throw error;
    }
    if (!claimed) {
      const current = await repo.findBooking(db, bookingId);
      if (current?.state === "assigned" && current.driver_id === driverId && current.vehicle_id === vehicleId)
        return current;
      throw new FailedPreconditionError(
        "this booking is no longer yours to assign (its deadline passed, or it changed meanwhile)",
        {
          reason: "BOOKING_NOT_ASSIGNABLE",
          field: "booking_id",
        },
      );
    }
    try {
      await makeBookingCall(claimed);
    } catch (error) {
      if (error instanceof DomainError && isPermanentFailure(error.code)) throw error;
      // Booking did not answer: the assignment stands and the poller completes it.
    }
    logger.info({ bookingId, transporterId: principal.userId, driverId, vehicleId }, "driver assigned");
    return (await repo.findBooking(db, bookingId)) ?? claimed;
  }

  return assignDriver;
}
