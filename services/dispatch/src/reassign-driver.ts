/**
 * ReassignDriver: operations move an ASSIGNED (or DRIVER_EN_ROUTE) booking to another driver and
 * vehicle of the same transporter. Fleet confirms the pair (the transporter's, the booking's
 * vehicle type, not on a trip); then ONE conditional update moves the claim from the old pair to
 * the new one (only while the row still holds the old pair and owes booking nothing): the partial
 * unique indexes refuse a driver or vehicle on another active assignment (DRIVER_BUSY /
 * VEHICLE_BUSY), and of two reassignments at once exactly one matches the row. The update also
 * records a ReassignBooking owed to booking (retried by the poller until booking answers) with
 * the pair released, so a retry of the same reassignment answers as the first, and a refusal by
 * booking (the trip moved on meanwhile) puts the old pair back.
 */
import { isUniqueViolation } from "@weelo/db";
import { DomainError, FailedPreconditionError, NotFoundError } from "@weelo/errors";
import type { BookingCalls } from "./booking-calls.js";
import type { DispatchContext } from "./dispatch.context.js";
import * as repo from "./dispatch.repository.js";
import { isPermanentFailure, validateId, validateReason } from "./dispatch.rules.js";
import type { DispatchBookingRow } from "./dispatch.table.js";
import { busyRefusal, confirmFleetPair } from "./fleet-check.js";

export interface Reassigned {
  bookingId: string;
  driverId: string;
  vehicleId: string;
  previousDriverId: string;
  previousVehicleId: string;
}

export function createReassignDriver(ctx: DispatchContext, calls: Pick<BookingCalls, "makeBookingCall">) {
  const { db, upstreams, settings, logger, now, later } = ctx;
  const { makeBookingCall } = calls;

  const answer = (row: DispatchBookingRow): Reassigned => ({
    bookingId: row.booking_id,
    driverId: row.driver_id ?? "",
    vehicleId: row.vehicle_id ?? "",
    previousDriverId: row.previous_driver_id ?? "",
    previousVehicleId: row.previous_vehicle_id ?? "",
  });

  /** Makes the ReassignBooking the row owes; booking down leaves it to the poller (the reassignment stands). */
  async function owed(row: DispatchBookingRow): Promise<Reassigned> {
    if (row.booking_call === "reassign") {
      try {
        await makeBookingCall(row);
      } catch (error) {
        if (error instanceof DomainError && isPermanentFailure(error.code)) throw error;
      }
    }
    return answer((await repo.findBooking(db, row.booking_id)) ?? row);
  }

  return async function reassignDriver(input: {
    bookingId: string;
    driverId: string;
    vehicleId: string;
    opsUserId: string;
    reason: string;
  }): Promise<Reassigned> {
    const bookingId = validateId(input.bookingId, "booking_id");
    const driverId = validateId(input.driverId, "driver_id");
    const vehicleId = validateId(input.vehicleId, "vehicle_id");
    const opsUserId = validateId(input.opsUserId, "ops_user_id");
    const reason = validateReason(input.reason);
    const row = await repo.findBooking(db, bookingId);
    if (!row) throw new NotFoundError("booking not found", { reason: "BOOKING_NOT_FOUND", field: "booking_id" });
    const isTarget = (r: DispatchBookingRow) =>
      r.state === "assigned" && r.driver_id === driverId && r.vehicle_id === vehicleId;
    // The same reassignment again (a retry after a lost answer), or the pair it has: finish its call if owed, answer.
    if (isTarget(row)) return owed(row);
    if (row.state !== "assigned" || !row.transporter_id) {
      throw new FailedPreconditionError(`the booking has no driver to replace (it is ${row.state} in dispatch)`, {
        reason: "ILLEGAL_STATUS_TRANSITION",
        field: "booking_id",
      });
    }
    if (row.booking_call !== null)
      throw new FailedPreconditionError("another change of this booking is in progress; try again in a moment", {
        reason: "CONCURRENT_CHANGE",
      });
    const broadcast = await repo.findBroadcast(db, row.order_id);
    const fleet = await confirmFleetPair(upstreams.fleet, {
      transporterId: row.transporter_id,
      driverId,
      vehicleId,
      vehicleType: broadcast?.vehicle_type,
    });
    const at = now();
    let claimed: DispatchBookingRow | undefined;
    try {
      claimed = await db
        .updateTable("bookings")
        .set({
          driver_id: driverId,
          driver_user_id: fleet.driverUserId,
          vehicle_id: vehicleId,
          previous_driver_id: row.driver_id,
          previous_driver_user_id: row.driver_user_id,
          previous_vehicle_id: row.vehicle_id,
          booking_call: "reassign",
          booking_call_due_at: later(settings.leaseMs, at),
          booking_call_attempts: 0,
          booking_call_ops_user_id: opsUserId,
          booking_call_reason: reason,
          updated_at: at,
        })
        .where("booking_id", "=", bookingId)
        .where("state", "=", "assigned")
        .where("booking_call", "is", null)
        .where("driver_id", "=", row.driver_id!)
        .where("vehicle_id", "=", row.vehicle_id!)
        .returningAll()
        .executeTakeFirst();
    } catch (error) {
      if (isUniqueViolation(error)) throw busyRefusal(isUniqueViolation(error, repo.Constraint.activeVehicle));
      throw error;
    }
    if (!claimed) {
      const current = await repo.findBooking(db, bookingId);
      if (current && isTarget(current)) return owed(current);
      throw new FailedPreconditionError(
        "the booking changed meanwhile (another reassignment or a trip step); read it and retry",
        {
          reason: "CONCURRENT_CHANGE",
        },
      );
    }
    logger.info(
      { bookingId, opsUserId, driverId, vehicleId, previousDriverId: row.driver_id },
      "driver reassigned by operations",
    );
    return owed(claimed);
  };
}
