/** Table types of the booking schema (kysely). Status columns hold the lower-case domain words. */
import type { OutboxTable } from "@weelo/outbox";
import type { ColumnType, Generated, Selectable } from "kysely";

type CreatedAt = ColumnType<Date, Date | undefined, never>;
type UpdatedAt = ColumnType<Date, Date | undefined, Date>;
/** int8 comes back as a string from pg and PGlite alike (no precision is lost). */
type BigIntColumn = ColumnType<string, number | string | undefined, number | string>;
/** jsonb: written as a JSON string, read back parsed. */
type JsonColumn<T> = ColumnType<T, string, string>;

export const BOOKING_STATUSES = [
  "pending",
  "confirmed",
  "assigned",
  "driver_en_route",
  "at_pickup",
  "in_transit",
  "at_dropoff",
  "completed",
  "cancelled",
] as const;
export type BookingStatus = (typeof BOOKING_STATUSES)[number];

/** `ops`: a member of the operations team, through the ops console (cancel, reopen, reassign). */
export const ACTOR_ROLES = ["customer", "transporter", "driver", "dispatch", "system", "ops"] as const;
export type ActorRole = (typeof ACTOR_ROLES)[number];

/** An address as stored (the protobuf Address in camelCase). */
export interface StoredAddress {
  line1: string;
  line2: string;
  landmark: string;
  city: string;
  state: string;
  pincode: string;
  location: { lat: number; lng: number };
  contactName: string;
  contactPhone: string;
}

export interface OrdersTable {
  id: string;
  customer_id: string;
  vehicle_type: string;
  vehicle_count: number;
  total_fare_paise: BigIntColumn;
  quote_id: string;
  /** With customer_id, unique: a retry of the same create finds this order. */
  idempotency_key: string | null;
  /** sha256 of the canonical request, to tell a retry from another request under the same key. */
  request_hash: string;
  created_at: CreatedAt;
}

export interface BookingsTable {
  id: string;
  order_id: string;
  customer_id: string;
  status: BookingStatus;
  vehicle_type: string;
  pickup: JsonColumn<StoredAddress>;
  drop: JsonColumn<StoredAddress>;
  goods_type: string;
  weight_kg: number;
  notes: string;
  fare_paise: BigIntColumn;
  distance_m: number;
  quote_id: string;
  scheduled_at: Date | null;
  /** When booking.created is (or was) published: creation for a trip now, scheduled_at − lead otherwise. */
  broadcast_at: Date;
  /** When booking.created was written to the outbox; null while a scheduled booking waits. */
  broadcasted_at: Date | null;
  transporter_id: string | null;
  driver_id: string | null;
  /** The driver's identity account: who may move the trip. */
  driver_user_id: string | null;
  vehicle_id: string | null;
  /**
   * Stored plain, not hashed: the customer must be able to read them again (GetBooking, a new
   * phone) to tell the driver at loading and delivery, and they are worthless after the trip.
   * They never leave the service except to the booking's customer.
   */
  pickup_code: string;
  delivery_code: string;
  /** Wrong codes tried since the last lock or accepted code (see claimCodeAttempt). */
  code_failures: Generated<number>;
  /** Code entry is refused until then, after too many wrong codes. */
  code_locked_until: Date | null;
  cancellation_fee_paise: BigIntColumn;
  cancellation_reason: Generated<string>;
  /** Number of the booking's latest change (1 at creation); incremented by every transition. */
  sequence: BigIntColumn;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface BookingStatusHistoryTable {
  booking_id: string;
  sequence: BigIntColumn;
  from_status: BookingStatus | null;
  to_status: BookingStatus;
  actor_role: ActorRole;
  actor_id: string;
  reason: string;
  lat: number | null;
  lng: number | null;
  reopened: Generated<boolean>;
  cancellation_fee_paise: BigIntColumn;
  occurred_at: Date;
}

export interface BookingDatabase {
  orders: OrdersTable;
  bookings: BookingsTable;
  booking_status_history: BookingStatusHistoryTable;
  /** Events written with the change that caused them, published by the relay (@weelo/outbox). */
  outbox: OutboxTable;
}

export type OrderRow = Selectable<OrdersTable>;
export type BookingRow = Selectable<BookingsTable>;
export type HistoryRow = Selectable<BookingStatusHistoryTable>;
