/**
 * What every booking use case shares: its dependencies, the clock, the subject root, and the
 * reads that find a booking for a caller. booking.service.ts builds it once and hands it to
 * each use case's file.
 *
 * Visibility: anyone who is not the booking's customer, transporter or driver gets NOT_FOUND,
 * exactly as for a booking that does not exist.
 */
import type { Principal } from "@weelo/auth";
import type { Bus } from "@weelo/bus";
import { NotFoundError } from "@weelo/errors";
import type { Logger } from "@weelo/log";
import * as repo from "./booking.repository.js";
import { relationTo, validateId, type CancellationFeeRule, type Point, type Relation } from "./booking.rules.js";
import type { BookingRow, OrderRow } from "./booking.table.js";

export interface BookingDeps {
  db: repo.BookingDb;
  /** Core subscriptions wake WatchBooking streams when an event of their booking is published. */
  bus: Pick<Bus, "subscribe">;
  events: {
    /** First token of event subjects ("booking" outside tests). */
    subjectRoot: string;
    /** Called after a transaction that wrote events commits: the outbox relay publishes them. */
    committed(): void;
  };
  settings: {
    quoteToleranceM: number;
    cancellationFee: CancellationFeeRule;
    broadcastLeadMinutes: number;
    maxScheduleAheadDays: number;
    watchPollMs: number;
    /** Wrong trip codes allowed before code entry locks, and for how long it locks. */
    codeAttempts: { max: number; lockMs: number };
  };
  logger: Logger;
  /** The clock (tests move it). */
  now?: () => Date;
  /** Asked before AT_PICKUP / AT_DROPOFF (tracking's CheckArrival); none: not checked. */
  arrivals?: ArrivalCheck;
  /** Marks the quote of each order used, and gives its terms (pricing's RedeemQuote). */
  quotes: QuoteRedemption;
}

/**
 * Redeems a quote for one order: resolves to the quote's terms when it is unused, unexpired and
 * the customer's, or was already redeemed under the same key (a retry of the same order); throws
 * otherwise (FAILED_PRECONDITION QUOTE_ALREADY_USED or QUOTE_EXPIRED, NOT_FOUND QUOTE_NOT_FOUND, …).
 */
export interface QuoteRedemption {
  redeem(input: { quoteToken: string; customerId: string; redemptionKey: string }): Promise<RedeemedQuote>;
}

/** The terms of a redeemed quote that an order is checked against and booked at. */
export interface RedeemedQuote {
  quoteId: string;
  vehicleType: string;
  vehicleCount: number;
  pickup: Point;
  drop: Point;
  scheduledAt: Date | undefined;
  distanceM: number;
  /** The quoted price of one vehicle, GST included. */
  perVehicleFarePaise: number;
}

/** Whether the driver is at a stop; throws (FAILED_PRECONDITION, saying how far they are) when not. */
export interface ArrivalCheck {
  check(input: { bookingId: string; driverId: string; stop: "pickup" | "drop"; stopLocation: Point }): Promise<void>;
}

/** An order with its bookings, sorted by id. */
export interface OrderView {
  order: OrderRow;
  bookings: BookingRow[];
}

export const bookingNotFound = () =>
  new NotFoundError("booking not found", { reason: "BOOKING_NOT_FOUND", field: "booking_id" });

export function createBookingContext(deps: BookingDeps) {
  const { db } = deps;
  const now = deps.now ?? (() => new Date());

  /** The booking when the caller is its customer, transporter or driver; NOT_FOUND otherwise. */
  async function visibleBooking(
    principal: Principal,
    bookingId: string,
  ): Promise<{ booking: BookingRow; relation: Relation }> {
    const booking = await repo.findBooking(db, validateId(bookingId, "booking_id"));
    const relation = booking ? relationTo(booking, principal) : undefined;
    if (!booking || !relation) throw bookingNotFound();
    return { booking, relation };
  }

  /** The booking a dispatch call names (dispatch sees every booking). */
  async function dispatchBooking(bookingId: string): Promise<BookingRow> {
    const booking = await repo.findBooking(db, validateId(bookingId, "booking_id"));
    if (!booking) throw bookingNotFound();
    return booking;
  }

  async function orderView(order: OrderRow): Promise<OrderView> {
    return { order, bookings: await repo.listOrderBookings(db, order.id) };
  }

  return { ...deps, now, root: deps.events.subjectRoot, visibleBooking, dispatchBooking, orderView };
}

export type BookingContext = ReturnType<typeof createBookingContext>;
