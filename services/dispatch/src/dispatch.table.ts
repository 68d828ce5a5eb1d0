/** Table types of the dispatch schema (kysely). State columns hold lower-case words. */
import type { OutboxTable } from "@weelo/outbox";
import type { ColumnType, Selectable } from "kysely";

type CreatedAt = ColumnType<Date, Date | undefined, never>;
type UpdatedAt = ColumnType<Date, Date | undefined, Date>;
/** int8 comes back as a string from pg and PGlite alike. */
type BigIntColumn = ColumnType<string, number | string | undefined, number | string>;

/** open: waves running; filled: every truck taken; expired: the last wave passed; cancelled: nothing left to offer. */
export const BROADCAST_STATUSES = ["open", "filled", "expired", "cancelled"] as const;
export type BroadcastStatus = (typeof BROADCAST_STATUSES)[number];

/**
 * A booking as dispatch holds it. open: offered; accepted: a transporter took it (ConfirmBooking
 * owed while booking_call = confirm); assigned: driver and vehicle bound (AssignBooking owed while
 * booking_call = assign), until the trip ends; reopening: the assign deadline passed (ReopenBooking
 * owed, also for operations' reopen); expiring/expired: nobody took it (ExpireBooking owed, then done); cancelled; closed:
 * the trip completed.
 */
export const BOOKING_STATES = [
  "open",
  "accepted",
  "assigned",
  "reopening",
  "expiring",
  "expired",
  "cancelled",
  "closed",
] as const;
export type BookingState = (typeof BOOKING_STATES)[number];

/** The booking call dispatch still owes booking for a row (retried by the timer poller until it is made). */
export const BOOKING_CALL_KINDS = ["confirm", "assign", "reopen", "expire", "reassign"] as const;
export type BookingCallKind = (typeof BOOKING_CALL_KINDS)[number];

export const OFFER_STATUSES = ["open", "accepted", "declined", "withdrawn", "expired"] as const;
export type OfferStatus = (typeof OFFER_STATUSES)[number];

export const WITHDRAWAL_REASONS = ["filled", "cancelled", "expired"] as const;
export type WithdrawalReason = (typeof WITHDRAWAL_REASONS)[number];

/** One broadcast per order: the trip, its trucks still open, and the wave timer. */
export interface BroadcastsTable {
  order_id: string;
  customer_id: string;
  vehicle_type: string;
  pickup_lat: number;
  pickup_lng: number;
  drop_lat: number;
  drop_lng: number;
  pickup_city: string;
  drop_city: string;
  fare_paise: BigIntColumn;
  distance_m: number;
  goods_type: string;
  weight_kg: number;
  scheduled_at: Date | null;
  /** Trucks of the order. */
  vehicle_count: number;
  /** Bookings of the order seen so far (booking.created events). */
  known_bookings: number;
  /** Trucks nobody has taken: equal to the order's bookings in state open. */
  open_trucks: number;
  status: BroadcastStatus;
  /** Counts broadcast rounds: a reopened or late booking of a closed broadcast starts a new one. */
  round: number;
  /** Waves done in this round. */
  wave: number;
  /** When the next wave (or, after the last, the expiry) is due; null when not open. */
  next_wave_at: Date | null;
  /** Set while one replica runs the due wave; its lease is next_wave_at. */
  claim_token: string | null;
  /** When this round ends if trucks are still open. */
  expires_at: Date;
  /** Increases with every change of the order's offers. */
  version: BigIntColumn;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface BookingsTable {
  booking_id: string;
  order_id: string;
  state: BookingState;
  transporter_id: string | null;
  offer_id: string | null;
  accepted_at: Date | null;
  /** The transporter must assign a driver before this, or the booking is reopened. */
  assign_by: Date | null;
  driver_id: string | null;
  driver_user_id: string | null;
  vehicle_id: string | null;
  assigned_at: Date | null;
  /** The booking call owed, if any; due at booking_call_due_at. */
  booking_call: BookingCallKind | null;
  booking_call_due_at: Date | null;
  booking_call_attempts: ColumnType<number, number | undefined, number>;
  /** The operations user a reopen or reassignment owed to booking is made for; null when dispatch acts on its own. */
  booking_call_ops_user_id: string | null;
  /** The reason that call gives booking ("" for dispatch's own reopen, which has its fixed reason). */
  booking_call_reason: ColumnType<string, string | undefined, string>;
  /** The driver and vehicle an operations' reassignment released (to answer its retry, and to restore if booking refuses). */
  previous_driver_id: string | null;
  previous_driver_user_id: string | null;
  previous_vehicle_id: string | null;
  /** Sequence of the latest booking event applied: older and repeated events are ignored. */
  booking_seq: BigIntColumn;
  updated_at: UpdatedAt;
}

export interface OffersTable {
  id: string;
  order_id: string;
  transporter_id: string;
  status: OfferStatus;
  round: number;
  /** The wave (from 1) that reached the transporter. */
  wave: number;
  accepted_count: ColumnType<number, number | undefined, number>;
  withdrawal_reason: WithdrawalReason | null;
  decline_reason: ColumnType<string, string | undefined, string>;
  transporter_online: boolean;
  created_at: ColumnType<Date, Date | undefined, Date>;
  updated_at: UpdatedAt;
}

export interface DispatchDatabase {
  broadcasts: BroadcastsTable;
  bookings: BookingsTable;
  offers: OffersTable;
  outbox: OutboxTable;
}

export type BroadcastRow = Selectable<BroadcastsTable>;
/** A row of dispatch's own bookings table (its state of a booking); booking's BookingRow is the booking itself. */
export type DispatchBookingRow = Selectable<BookingsTable>;
export type OfferRow = Selectable<OffersTable>;
