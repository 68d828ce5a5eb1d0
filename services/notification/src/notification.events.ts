/**
 * Events in, messages out: decodes the EventEnvelope of each producer's events and asks the
 * rules whom to tell what. Unknown event types are not ours to handle (undefined).
 */
import { ActorRole, BookingStatus } from "@weelo/contracts/grpc/weelo/booking/v1/booking";
import { BookingCreated, BookingStatusChanged } from "@weelo/contracts/grpc/weelo/booking/v1/events";
import {
  OfferAccepted,
  OfferCreated,
  OfferWithdrawn,
  WaveSent,
} from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch";
import type { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import { DriverWentDark, GeofenceEntered, TripStop } from "@weelo/contracts/grpc/weelo/tracking/v1/events";
import {
  planBookingCreated,
  planCancelled,
  planDriverDark,
  planExpired,
  planGeofence,
  planOfferAccepted,
  planOfferCreated,
  planWaveSent,
  planOfferWithdrawn,
  planReassigned,
  planReopened,
  planStatusChanged,
  type BookingStatusWord,
  type PlannedMessage,
  type StatusChange,
} from "./notification.rules.js";

export type Planner = (envelope: EventEnvelope) => PlannedMessage[];

/** A payload that does not decode as its type says: never retried, sent to the dead letters. */
export class UndecodableEventError extends Error {}

function payloadOf(envelope: EventEnvelope, expected: string): Uint8Array {
  const typeUrl = envelope.payload?.typeUrl ?? "";
  if (typeUrl.slice(typeUrl.lastIndexOf("/") + 1) !== expected) {
    throw new UndecodableEventError(`event ${envelope.type} carries ${typeUrl || "no payload"}, expected ${expected}`);
  }
  return envelope.payload!.value;
}

function decode<T>(decoder: { decode(bytes: Uint8Array): T }, envelope: EventEnvelope, expected: string): T {
  const bytes = payloadOf(envelope, expected);
  try {
    return decoder.decode(bytes);
  } catch (error) {
    throw new UndecodableEventError(
      `event ${envelope.type} (${envelope.id}) has a payload that is not a valid ${expected}: ${(error as Error).message}`,
    );
  }
}

export function statusWord(status: BookingStatus): BookingStatusWord {
  const name = BookingStatus[status];
  return typeof name === "string" &&
    name.startsWith("BOOKING_STATUS_") &&
    status !== BookingStatus.BOOKING_STATUS_UNSPECIFIED
    ? (name.slice("BOOKING_STATUS_".length).toLowerCase() as BookingStatusWord)
    : "unknown";
}

const STATUS_CHANGED = "weelo.booking.v1.BookingStatusChanged";
const CREATED = "weelo.booking.v1.BookingCreated";

function statusChange(envelope: EventEnvelope): StatusChange {
  const e = decode(BookingStatusChanged, envelope, STATUS_CHANGED);
  return {
    bookingId: e.bookingId,
    to: statusWord(e.to),
    customerId: e.customerId,
    driverUserId: e.driverUserId,
    cancellationFeePaise: e.cancellationFeePaise,
    actorRole: e.actorRole === ActorRole.ACTOR_ROLE_OPS ? "ops" : "",
    reason: e.reason,
    previousDriverUserId: e.previousDriverUserId,
  };
}

/** booking.* (stream BOOKING): the event type is the envelope's type, whatever the subject root. */
export const BOOKING_PLANNERS: Readonly<Record<string, Planner>> = {
  "booking.created": (envelope) => {
    const e = decode(BookingCreated, envelope, CREATED);
    return planBookingCreated({
      bookingId: e.bookingId,
      customerId: e.customerId,
      pickupCity: e.pickupCity,
      dropCity: e.dropCity,
    });
  },
  "booking.status_changed": (envelope) => planStatusChanged(statusChange(envelope)),
  "booking.cancelled": (envelope) => planCancelled(statusChange(envelope)),
  "booking.reopened": (envelope) => planReopened(statusChange(envelope)),
  // Operations moved the trip to another driver and truck (payload: a status change naming both drivers).
  "booking.reassigned": (envelope) => planReassigned(statusChange(envelope)),
  // Raised when no transporter took the booking in time; its payload is a status change (to CANCELLED).
  "booking.expired": (envelope) => {
    const e = statusChange(envelope);
    return planExpired({ bookingId: e.bookingId, customerId: e.customerId });
  },
};

const GEOFENCE = "weelo.tracking.v1.GeofenceEntered";
const DRIVER_DARK = "weelo.tracking.v1.DriverWentDark";

function geofence(envelope: EventEnvelope, arrived: boolean): PlannedMessage[] {
  const e = decode(GeofenceEntered, envelope, GEOFENCE);
  return planGeofence({
    bookingId: e.bookingId,
    customerId: e.customerId,
    arrived,
    stop: e.stop === TripStop.TRIP_STOP_DROP ? "drop" : "pickup",
  });
}

/** tracking.* (stream TRACKING). */
export const TRACKING_PLANNERS: Readonly<Record<string, Planner>> = {
  "tracking.geofence.arriving": (envelope) => geofence(envelope, false),
  "tracking.geofence.arrived": (envelope) => geofence(envelope, true),
  "tracking.driver_dark": (envelope) => {
    const e = decode(DriverWentDark, envelope, DRIVER_DARK);
    return planDriverDark({ bookingId: e.bookingId, transporterId: e.transporterId, silentSeconds: e.silentSeconds });
  },
};

/** dispatch.* (stream DISPATCH): offers to transporters. */
export const DISPATCH_PLANNERS: Readonly<Record<string, Planner>> = {
  "dispatch.wave_sent": (envelope) => {
    const e = decode(WaveSent, envelope, "weelo.dispatch.v1.WaveSent");
    return planWaveSent({
      orderId: e.orderId,
      bookingIds: e.bookingIds,
      farePaise: e.farePaise,
      vehicleCount: e.vehicleCount,
      pickupCity: e.pickupCity,
      dropCity: e.dropCity,
      offers: e.offers,
    });
  },
  // Events of dispatch before wave_sent, still in the stream after an upgrade.
  "dispatch.offer_created": (envelope) => {
    const e = decode(OfferCreated, envelope, "weelo.dispatch.v1.OfferCreated");
    return planOfferCreated({
      offerId: e.offerId,
      orderId: e.orderId,
      bookingIds: e.bookingIds,
      transporterId: e.transporterId,
      transporterOnline: e.transporterOnline,
      farePaise: e.farePaise,
      vehicleCount: e.vehicleCount,
      pickupCity: e.pickupCity,
      dropCity: e.dropCity,
    });
  },
  "dispatch.offer_withdrawn": (envelope) => {
    const e = decode(OfferWithdrawn, envelope, "weelo.dispatch.v1.OfferWithdrawn");
    return planOfferWithdrawn({
      offerId: e.offerId,
      orderId: e.orderId,
      bookingIds: [],
      transporterId: e.transporterId,
    });
  },
  "dispatch.offer_accepted": (envelope) => {
    const e = decode(OfferAccepted, envelope, "weelo.dispatch.v1.OfferAccepted");
    return planOfferAccepted({
      offerId: e.offerId,
      orderId: e.orderId,
      bookingIds: e.bookingIds,
      transporterId: e.transporterId,
    });
  },
};
