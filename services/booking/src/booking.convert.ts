/** protobuf ⇄ domain conversions shared by the handlers and the events. */
import {
  ActorRole as ProtoActorRole,
  BookingStatus as ProtoBookingStatus,
  type Booking,
  type BookingStatusChange,
  type Order,
} from "@weelo/contracts/grpc/weelo/booking/v1/booking";
import { InvalidArgumentError } from "@weelo/errors";
import type { ActorRole, BookingRow, BookingStatus, HistoryRow, OrderRow } from "./booking.table.js";

const STATUS_TO_PROTO: Record<BookingStatus, ProtoBookingStatus> = {
  pending: ProtoBookingStatus.BOOKING_STATUS_PENDING,
  confirmed: ProtoBookingStatus.BOOKING_STATUS_CONFIRMED,
  assigned: ProtoBookingStatus.BOOKING_STATUS_ASSIGNED,
  driver_en_route: ProtoBookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE,
  at_pickup: ProtoBookingStatus.BOOKING_STATUS_AT_PICKUP,
  in_transit: ProtoBookingStatus.BOOKING_STATUS_IN_TRANSIT,
  at_dropoff: ProtoBookingStatus.BOOKING_STATUS_AT_DROPOFF,
  completed: ProtoBookingStatus.BOOKING_STATUS_COMPLETED,
  cancelled: ProtoBookingStatus.BOOKING_STATUS_CANCELLED,
};

const ACTOR_TO_PROTO: Record<ActorRole, ProtoActorRole> = {
  customer: ProtoActorRole.ACTOR_ROLE_CUSTOMER,
  transporter: ProtoActorRole.ACTOR_ROLE_TRANSPORTER,
  driver: ProtoActorRole.ACTOR_ROLE_DRIVER,
  dispatch: ProtoActorRole.ACTOR_ROLE_DISPATCH,
  system: ProtoActorRole.ACTOR_ROLE_SYSTEM,
  ops: ProtoActorRole.ACTOR_ROLE_OPS,
};

export const statusToProto = (status: BookingStatus | null): ProtoBookingStatus =>
  status === null ? ProtoBookingStatus.BOOKING_STATUS_UNSPECIFIED : STATUS_TO_PROTO[status];

export const actorToProto = (role: ActorRole): ProtoActorRole => ACTOR_TO_PROTO[role];

/** A status in a request; UNSPECIFIED (or unknown) is refused. */
export function statusFromProto(status: ProtoBookingStatus, field = "status"): BookingStatus {
  const found = (Object.entries(STATUS_TO_PROTO) as [BookingStatus, ProtoBookingStatus][]).find(
    ([, p]) => p === status,
  );
  if (!found) throw new InvalidArgumentError(field, `${field} must be a BOOKING_STATUS_ value other than UNSPECIFIED`);
  return found[0];
}

/** A status filter: UNSPECIFIED means any. */
export function statusFilter(status: ProtoBookingStatus): BookingStatus | undefined {
  return status === ProtoBookingStatus.BOOKING_STATUS_UNSPECIFIED ? undefined : statusFromProto(status);
}

/** A booking as its viewer may see it: the trip codes go to the customer only. */
export function bookingToProto(row: BookingRow, showCodes: boolean): Booking {
  return {
    id: row.id,
    orderId: row.order_id,
    customerId: row.customer_id,
    status: statusToProto(row.status),
    vehicleType: row.vehicle_type,
    pickup: row.pickup,
    drop: row.drop,
    goodsType: row.goods_type,
    weightKg: row.weight_kg,
    notes: row.notes,
    farePaise: Number(row.fare_paise),
    distanceM: row.distance_m,
    scheduledAt: row.scheduled_at ?? undefined,
    transporterId: row.transporter_id ?? "",
    driverId: row.driver_id ?? "",
    vehicleId: row.vehicle_id ?? "",
    pickupCode: showCodes ? row.pickup_code : "",
    deliveryCode: showCodes ? row.delivery_code : "",
    cancellationFeePaise: Number(row.cancellation_fee_paise),
    cancellationReason: row.cancellation_reason,
    sequence: Number(row.sequence),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    quoteId: row.quote_id,
  };
}

export function historyToProto(row: HistoryRow): BookingStatusChange {
  return {
    sequence: Number(row.sequence),
    from: statusToProto(row.from_status),
    to: statusToProto(row.to_status),
    actorRole: actorToProto(row.actor_role),
    actorId: row.actor_id,
    reason: row.reason,
    location: row.lat !== null && row.lng !== null ? { lat: row.lat, lng: row.lng } : undefined,
    reopened: row.reopened,
    cancellationFeePaise: Number(row.cancellation_fee_paise),
    occurredAt: row.occurred_at,
  };
}

export function orderToProto(order: OrderRow, bookings: BookingRow[], showCodes: boolean): Order {
  return {
    id: order.id,
    customerId: order.customer_id,
    vehicleType: order.vehicle_type,
    vehicleCount: order.vehicle_count,
    totalFarePaise: Number(order.total_fare_paise),
    quoteId: order.quote_id,
    createdAt: order.created_at,
    bookings: bookings.map((b) => bookingToProto(b, showCodes)),
  };
}
