/**
 * ON_TRIP from booking's events, as pure rules: which driver and vehicle a booking's trip
 * holds after an event, and what changes for them. Events come at least once and, across
 * replicas and redeliveries, out of order; each carries the booking's change number, so an
 * event no newer than the last one applied changes nothing (a late ASSIGNED after COMPLETED
 * never puts the truck back ON_TRIP).
 */
import { BookingStatus } from "@weelo/contracts/grpc/weelo/booking/v1/booking";

/** Booking statuses in which the trip holds its driver and vehicle. */
const ON_TRIP_STATUSES = new Set([
  BookingStatus.BOOKING_STATUS_ASSIGNED,
  BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE,
  BookingStatus.BOOKING_STATUS_AT_PICKUP,
  BookingStatus.BOOKING_STATUS_IN_TRANSIT,
  BookingStatus.BOOKING_STATUS_AT_DROPOFF,
]);

export interface Pair {
  driverId: string;
  vehicleId: string;
}

/** What fleet last applied of one booking (sequence 0: nothing yet). */
export interface TripHold {
  sequence: number;
  active: boolean;
  driverId: string | null;
  vehicleId: string | null;
}

/** One booking event, as fleet reads it. */
export interface BookingChange {
  sequence: number;
  to: BookingStatus;
  /** The driver and vehicle after the change; empty when none. */
  driverId: string;
  vehicleId: string;
}

export type TripHoldPlan =
  | { kind: "stale" }
  | {
      kind: "apply";
      /** The pair to put back (AVAILABLE / the driver's status before the trip). */
      release: Pair | undefined;
      /** The pair to set ON_TRIP. */
      take: Pair | undefined;
      next: TripHold;
    };

export function planTripHold(hold: TripHold, change: BookingChange): TripHoldPlan {
  if (change.sequence <= hold.sequence) return { kind: "stale" };
  const held: Pair | undefined =
    hold.active && hold.driverId && hold.vehicleId ? { driverId: hold.driverId, vehicleId: hold.vehicleId } : undefined;
  const onTrip = ON_TRIP_STATUSES.has(change.to) && change.driverId !== "" && change.vehicleId !== "";
  if (!onTrip) {
    return {
      kind: "apply",
      release: held,
      take: undefined,
      next: { sequence: change.sequence, active: false, driverId: hold.driverId, vehicleId: hold.vehicleId },
    };
  }
  const take = { driverId: change.driverId, vehicleId: change.vehicleId };
  const same = held?.driverId === take.driverId && held.vehicleId === take.vehicleId;
  return {
    kind: "apply",
    // A reassignment (another driver or vehicle on the same booking) frees the ones it held.
    release: held && !same ? held : undefined,
    take,
    next: { sequence: change.sequence, active: true, driverId: take.driverId, vehicleId: take.vehicleId },
  };
}
