/** Booking's events: subjects, and the payloads written to the outbox with their change. */
import { BookingCreated, BookingStatusChanged } from "@weelo/contracts/grpc/weelo/booking/v1/events";
import { enqueueEvent, type OutboxEvent } from "@weelo/outbox";
import type { BookingTrx } from "./booking.repository.js";
import { actorToProto, statusToProto } from "./booking.convert.js";
import type { BookingRow, HistoryRow } from "./booking.table.js";

/** Event types (the subjects under the default subject root "booking"). */
export const BOOKING_CREATED_EVENT = "booking.created";
export const BOOKING_STATUS_CHANGED_EVENT = "booking.status_changed";
export const BOOKING_CANCELLED_EVENT = "booking.cancelled";
export const BOOKING_REOPENED_EVENT = "booking.reopened";
/** A PENDING booking nobody took before dispatch's broadcast ended: cancelled with NO_TRANSPORTER_FOUND. */
export const BOOKING_EXPIRED_EVENT = "booking.expired";
/**
 * Operations moved an ASSIGNED or DRIVER_EN_ROUTE booking to another driver and vehicle of the
 * same transporter (to: ASSIGNED; previous_* name the pair released). Same payload as every status
 * change, so a consumer that reads status changes by payload (fleet's ON_TRIP holds) applies it as
 * it is; one that reads by subject and does not know it acknowledges and ignores it.
 */
export const BOOKING_REASSIGNED_EVENT = "booking.reassigned";
export const BOOKING_CREATED_PAYLOAD_TYPE = "weelo.booking.v1.BookingCreated";
export const BOOKING_STATUS_CHANGED_PAYLOAD_TYPE = "weelo.booking.v1.BookingStatusChanged";

export type StatusEventType =
  | typeof BOOKING_STATUS_CHANGED_EVENT
  | typeof BOOKING_CANCELLED_EVENT
  | typeof BOOKING_REOPENED_EVENT
  | typeof BOOKING_EXPIRED_EVENT
  | typeof BOOKING_REASSIGNED_EVENT;

/** The driver and vehicle a reassignment released. */
export interface PreviousAssignment {
  driverId: string;
  driverUserId: string;
  vehicleId: string;
}

/** The subject of an event type under a subject root: "booking.x" → "<root>.x". */
export function subjectFor(subjectRoot: string, eventType: string): string {
  return `${subjectRoot}${eventType.slice(eventType.indexOf("."))}`;
}

/** booking.created for one booking (sequence 1: its creation), when it opens to transporters. */
export async function recordBookingCreated(
  trx: BookingTrx,
  subjectRoot: string,
  booking: BookingRow,
  orderVehicleCount: number,
): Promise<void> {
  await enqueueEvent(trx, bookingCreatedEvent(subjectRoot, booking, orderVehicleCount));
}

/** What booking.created says of a booking: the fields of its row the event carries. */
export type BookingCreatedFacts = Pick<
  BookingRow,
  | "id"
  | "order_id"
  | "customer_id"
  | "vehicle_type"
  | "pickup"
  | "drop"
  | "fare_paise"
  | "distance_m"
  | "scheduled_at"
  | "goods_type"
  | "weight_kg"
  | "created_at"
>;

/** The outbox event booking.created of one booking. */
export function bookingCreatedEvent(
  subjectRoot: string,
  booking: BookingCreatedFacts,
  orderVehicleCount: number,
): OutboxEvent {
  const payload = BookingCreated.encode({
    bookingId: booking.id,
    orderId: booking.order_id,
    customerId: booking.customer_id,
    vehicleType: booking.vehicle_type,
    pickup: booking.pickup.location,
    drop: booking.drop.location,
    farePaise: Number(booking.fare_paise),
    distanceM: booking.distance_m,
    orderVehicleCount,
    scheduledAt: booking.scheduled_at ?? undefined,
    goodsType: booking.goods_type,
    weightKg: booking.weight_kg,
    pickupCity: booking.pickup.city,
    dropCity: booking.drop.city,
    occurredAt: booking.created_at,
  }).finish();
  return {
    subject: subjectFor(subjectRoot, BOOKING_CREATED_EVENT),
    type: BOOKING_CREATED_EVENT,
    subjectId: booking.id,
    sequence: 1,
    occurredAt: booking.created_at,
    payloadType: BOOKING_CREATED_PAYLOAD_TYPE,
    payload,
  };
}

/** A status change of a booking just changed in this transaction (its row and history entry). */
export async function recordStatusChange(
  trx: BookingTrx,
  subjectRoot: string,
  type: StatusEventType,
  booking: BookingRow,
  change: HistoryRow,
  previous?: PreviousAssignment,
): Promise<void> {
  const payload = BookingStatusChanged.encode({
    bookingId: booking.id,
    orderId: booking.order_id,
    from: statusToProto(change.from_status),
    to: statusToProto(change.to_status),
    actorRole: actorToProto(change.actor_role),
    actorId: change.actor_id,
    reason: change.reason,
    location: change.lat !== null && change.lng !== null ? { lat: change.lat, lng: change.lng } : undefined,
    reopened: change.reopened,
    cancellationFeePaise: Number(change.cancellation_fee_paise),
    occurredAt: change.occurred_at,
    customerId: booking.customer_id,
    transporterId: booking.transporter_id ?? "",
    driverId: booking.driver_id ?? "",
    vehicleType: booking.vehicle_type,
    driverUserId: booking.driver_user_id ?? "",
    vehicleId: booking.vehicle_id ?? "",
    previousDriverId: previous?.driverId ?? "",
    previousDriverUserId: previous?.driverUserId ?? "",
    previousVehicleId: previous?.vehicleId ?? "",
  }).finish();
  await enqueueEvent(trx, {
    subject: subjectFor(subjectRoot, type),
    type,
    subjectId: booking.id,
    sequence: Number(booking.sequence),
    occurredAt: change.occurred_at,
    payloadType: BOOKING_STATUS_CHANGED_PAYLOAD_TYPE,
    payload,
  });
}
