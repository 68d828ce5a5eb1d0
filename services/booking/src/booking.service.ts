/**
 * Booking's use cases: orders from quotes, the status machine, cancellations, dispatch's
 * transitions, the watch stream and the scheduled broadcasts. It orchestrates rules, the
 * repository and the outbox; the gRPC handlers only translate to and from protobuf.
 *
 * Every status change is one transaction: the conditional UPDATE (status = expected, sequence
 * + 1), the history row with that sequence, and the outbox event with that sequence.
 *
 * Visibility: anyone who is not the booking's customer, transporter or driver gets NOT_FOUND,
 * exactly as for a booking that does not exist.
 */
import { randomInt } from "node:crypto";
import { v7 as uuidv7 } from "uuid";
import type { Principal } from "@weelo/auth";
import type { Bus } from "@weelo/bus";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import { isUniqueViolation } from "@weelo/db";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
} from "@weelo/errors";
import type { Logger } from "@weelo/log";
import { outboxRow } from "@weelo/outbox";
import type { Insertable } from "kysely";
import {
  bookingCreatedEvent,
  type BookingCreatedFacts,
  BOOKING_CANCELLED_EVENT,
  BOOKING_EXPIRED_EVENT,
  BOOKING_REOPENED_EVENT,
  BOOKING_STATUS_CHANGED_EVENT,
  recordBookingCreated,
  recordStatusChange,
  type StatusEventType,
} from "./booking.events.js";
import * as repo from "./booking.repository.js";
import {
  broadcastAt,
  checkDispatchStep,
  checkReopen,
  checkRequestMatchesQuote,
  codeLocked,
  codeMatches,
  codeRefusal,
  decodePageToken,
  DISPATCH_REOPENABLE,
  pageOf,
  illegalTransition,
  pageSize,
  PARTICIPANT_REOPENABLE,
  planCustomerCancellation,
  planDriverStep,
  relationTo,
  requestHash,
  validateAddress,
  validateGoodsType,
  type CodeKind,
  validateId,
  validateIdempotencyKey,
  validatePoint,
  validateScheduledAt,
  validateText,
  type AddressInput,
  type CancellationFeeRule,
  type Point,
  type Relation,
} from "./booking.rules.js";
import type {
  ActorRole,
  BookingRow,
  BookingStatus,
  BookingStatusHistoryTable,
  BookingsTable,
  HistoryRow,
  OrderRow,
} from "./booking.table.js";

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

export interface NewBooking {
  quoteToken: string;
  pickup: AddressInput | undefined;
  drop: AddressInput | undefined;
  vehicleType: string;
  vehicleCount: number;
  goodsType: string;
  weightKg: number;
  scheduledAt: Date | undefined;
  notes: string;
  idempotencyKey: string;
}

export interface OrderView {
  order: OrderRow;
  bookings: BookingRow[];
}

export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

export interface Assignment {
  transporterId: string;
  driverId: string;
  driverUserId: string;
  vehicleId: string;
}

/** One message of a watch: the current state first, then each change. */
export type WatchEvent =
  | { kind: "state"; booking: BookingRow; relation: Relation }
  | { kind: "change"; change: HistoryRow };

interface Change {
  booking: BookingRow;
  to: BookingStatus;
  set?: Parameters<typeof repo.transitionBooking>[1]["set"];
  actorRole: ActorRole;
  actorId: string;
  reason?: string;
  location?: Point | undefined;
  reopened?: boolean;
  feePaise?: number;
  event: StatusEventType;
}

const bookingNotFound = () =>
  new NotFoundError("booking not found", { reason: "BOOKING_NOT_FOUND", field: "booking_id" });
/** The cancellation reason of a booking dispatch could not place. */
const NO_TRANSPORTER_FOUND = "NO_TRANSPORTER_FOUND";
const TERMINAL: readonly BookingStatus[] = ["completed", "cancelled"];
const CLEARED_ASSIGNMENT = { transporter_id: null, driver_id: null, driver_user_id: null, vehicle_id: null } as const;

export type BookingService = ReturnType<typeof createBookingService>;

export function createBookingService(deps: BookingDeps) {
  const { db, bus, events, settings, logger, quotes } = deps;
  const now = deps.now ?? (() => new Date());
  const root = events.subjectRoot;

  async function visibleBooking(
    principal: Principal,
    bookingId: string,
  ): Promise<{ booking: BookingRow; relation: Relation }> {
    const booking = await repo.findBooking(db, validateId(bookingId, "booking_id"));
    const relation = booking ? relationTo(booking, principal) : undefined;
    if (!booking || !relation) throw bookingNotFound();
    return { booking, relation };
  }

  async function orderView(order: OrderRow): Promise<OrderView> {
    return { order, bookings: await repo.listOrderBookings(db, order.id) };
  }

  /** The order an idempotency key already made, when this call is a retry of that one. */
  async function replay(order: OrderRow, hash: string): Promise<OrderView> {
    if (order.request_hash !== hash) {
      throw new AlreadyExistsError(
        "idempotency_key was already used for a different booking request; use a new key for a new booking",
        {
          reason: "IDEMPOTENCY_KEY_REUSED",
          field: "idempotency_key",
        },
      );
    }
    return orderView(order);
  }

  /**
   * Applies one transition in one transaction; undefined when the booking was no longer in the
   * status the change expected (the caller explains from a fresh read).
   */
  async function transition(change: Change): Promise<BookingRow | undefined> {
    const at = now();
    const updated = await db.transaction().execute(async (trx) => {
      const row = await repo.transitionBooking(trx, {
        id: change.booking.id,
        expected: change.booking.status,
        to: change.to,
        set: change.set ?? {},
        now: at,
      });
      if (!row) return undefined;
      const entry: Insertable<BookingStatusHistoryTable> = {
        booking_id: row.id,
        sequence: row.sequence,
        from_status: change.booking.status,
        to_status: change.to,
        actor_role: change.actorRole,
        actor_id: change.actorId,
        reason: change.reason ?? "",
        lat: change.location?.lat ?? null,
        lng: change.location?.lng ?? null,
        reopened: change.reopened ?? false,
        cancellation_fee_paise: change.feePaise ?? 0,
        occurred_at: at,
      };
      await repo.insertHistory(trx, [entry]);
      const history: HistoryRow = {
        ...entry,
        sequence: String(row.sequence),
        reopened: entry.reopened ?? false,
        cancellation_fee_paise: String(entry.cancellation_fee_paise),
      } as HistoryRow;
      await recordStatusChange(trx, root, change.event, row, history);
      return row;
    });
    if (updated) {
      events.committed();
      logger.info(
        {
          bookingId: updated.id,
          from: change.booking.status,
          to: change.to,
          actor: change.actorRole,
          sequence: updated.sequence,
        },
        "booking status changed",
      );
    }
    return updated;
  }

  /** Why a conditional transition matched no row: the booking moved meanwhile. */
  async function explainLostRace(bookingId: string, requested: BookingStatus): Promise<never> {
    const current = await repo.findBooking(db, bookingId);
    if (!current) throw bookingNotFound();
    throw illegalTransition(current.status, requested);
  }

  async function transitionOrExplain(change: Change): Promise<BookingRow> {
    return (await transition(change)) ?? explainLostRace(change.booking.id, change.to);
  }

  async function dispatchBooking(bookingId: string): Promise<BookingRow> {
    const booking = await repo.findBooking(db, validateId(bookingId, "booking_id"));
    if (!booking) throw bookingNotFound();
    return booking;
  }

  /** Counts the attempt first (concurrent guesses cannot outrun the limit), then compares. */
  async function checkTripCode(booking: BookingRow, kind: CodeKind, given: string): Promise<void> {
    const at = now();
    const { max, lockMs } = settings.codeAttempts;
    const attempt = await repo.claimCodeAttempt(db, booking.id, settings.codeAttempts, at);
    if (!attempt)
      throw codeLocked(kind, (await repo.codeLockedUntil(db, booking.id)) ?? new Date(at.getTime() + lockMs), at);
    if (codeMatches(kind === "pickup" ? booking.pickup_code : booking.delivery_code, given)) return;
    logger.warn({ bookingId: booking.id, kind, failures: attempt.failures }, "wrong trip code");
    throw codeRefusal(kind, max - attempt.failures, Math.round(lockMs / 60_000));
  }

  function tripCode(): string {
    return String(randomInt(0, 10_000)).padStart(4, "0");
  }

  return {
    /** Books the trucks of a quote: one order, one PENDING booking per truck. */
    async createBooking(principal: Principal, input: NewBooking): Promise<OrderView> {
      if (principal.role !== "customer")
        throw new PermissionDeniedError("only customers book trucks", { reason: "ROLE_NOT_ALLOWED" });
      const at = now();
      const pickup = validateAddress(input.pickup, "pickup");
      const drop = validateAddress(input.drop, "drop");
      const vehicleCount = input.vehicleCount; // 1 to 20: the contract's rule, checked before the handler
      const vehicleType = input.vehicleType.trim();
      if (vehicleType === "") throw new InvalidArgumentError("vehicle_type", "vehicle_type is required, e.g. lcv_14ft");
      const goodsType = validateGoodsType(input.goodsType);
      const weightKg = input.weightKg; // 1 to 100000: the contract's rule
      const notes = validateText(input.notes, "notes", 500, true);
      const idempotencyKey = validateIdempotencyKey(input.idempotencyKey);
      const quoteToken = input.quoteToken.trim();
      const hash = requestHash({
        quoteToken,
        pickup,
        drop,
        vehicleType,
        vehicleCount,
        goodsType,
        weightKg,
        notes,
        scheduledAt: input.scheduledAt,
      });

      if (quoteToken === "")
        throw new InvalidArgumentError(
          "quote_token",
          "quote_token is required: book with the token GetQuote returned",
          { reason: "QUOTE_INVALID" },
        );

      // The quote is redeemed (pricing marks it used by this order's key) BEFORE the order is
      // written, so no two orders can come of one quote. The key is the idempotency key, so a
      // retry of this order (after a lost answer, a crash between redeem and insert, or a failed
      // insert) redeems again under the same key and gets the same terms; the insert below then
      // either writes the order or collides with the first try's and answers with it. Without an
      // idempotency key a call cannot be retried as the same order: its key is its own.
      // A request that does not match its quote holds the quote under its key: corrected, the same
      // key books it; any other key needs a new quote.
      const redemptionKey = idempotencyKey ?? `single-use:${uuidv7()}`;
      let quote: RedeemedQuote;
      try {
        quote = await quotes.redeem({ quoteToken, customerId: principal.userId, redemptionKey });
        checkRequestMatchesQuote(
          quote,
          { vehicleType, vehicleCount, pickup: pickup.location, drop: drop.location, scheduledAt: input.scheduledAt },
          settings.quoteToleranceM,
        );
      } catch (error) {
        // A retry of an order already made is answered with it whatever the quote says now
        // (expired and purged, or pricing unreachable).
        const earlier = idempotencyKey
          ? await repo.findOrderByIdempotencyKey(db, principal.userId, idempotencyKey)
          : undefined;
        if (earlier) return replay(earlier, hash);
        throw error;
      }
      const scheduledAt = validateScheduledAt(input.scheduledAt, at, settings.maxScheduleAheadDays);
      const opensAt = broadcastAt(scheduledAt, at, settings.broadcastLeadMinutes);
      const immediate = opensAt.getTime() <= at.getTime();

      const orderId = uuidv7();
      const order: OrderRow = {
        id: orderId,
        customer_id: principal.userId,
        vehicle_type: vehicleType,
        vehicle_count: vehicleCount,
        total_fare_paise: String(quote.perVehicleFarePaise * vehicleCount),
        quote_id: quote.quoteId,
        idempotency_key: idempotencyKey,
        request_hash: hash,
        created_at: at,
      };
      const rows: Insertable<BookingsTable>[] = Array.from({ length: vehicleCount }, () => ({
        id: uuidv7(),
        order_id: orderId,
        customer_id: principal.userId,
        status: "pending",
        vehicle_type: vehicleType,
        pickup: JSON.stringify(pickup),
        drop: JSON.stringify(drop),
        goods_type: goodsType,
        weight_kg: weightKg,
        notes,
        fare_paise: quote.perVehicleFarePaise,
        distance_m: quote.distanceM,
        quote_id: quote.quoteId,
        scheduled_at: scheduledAt ?? null,
        broadcast_at: opensAt,
        broadcasted_at: immediate ? at : null,
        pickup_code: tripCode(),
        delivery_code: tripCode(),
        sequence: 1,
        created_at: at,
        updated_at: at,
      }));
      const facts = (row: Insertable<BookingsTable>): BookingCreatedFacts => ({
        id: row.id,
        order_id: orderId,
        customer_id: principal.userId,
        vehicle_type: vehicleType,
        pickup,
        drop,
        fare_paise: String(quote.perVehicleFarePaise),
        distance_m: quote.distanceM,
        scheduled_at: scheduledAt ?? null,
        goods_type: goodsType,
        weight_kg: weightKg,
        created_at: at,
      });
      try {
        const bookings = await repo.insertOrderWithBookings(db, {
          order,
          bookings: rows,
          history: rows.map((b) => ({
            booking_id: b.id,
            sequence: 1,
            from_status: null,
            to_status: "pending" as const,
            actor_role: "customer" as const,
            actor_id: principal.userId,
            reason: "",
            cancellation_fee_paise: 0,
            occurred_at: at,
          })),
          // Opened to transporters now, or later by the broadcast scheduler.
          outbox: immediate ? rows.map((row) => outboxRow(bookingCreatedEvent(root, facts(row), vehicleCount))) : [],
        });
        const view: OrderView = { order, bookings };
        if (immediate) events.committed();
        logger.info(
          { orderId, customerId: principal.userId, vehicleType, vehicleCount, scheduled: !immediate },
          "order booked",
        );
        return view;
      } catch (error) {
        // A concurrent duplicate committed first: answer with its order.
        if (idempotencyKey && isUniqueViolation(error)) {
          const winner = await repo.findOrderByIdempotencyKey(db, principal.userId, idempotencyKey);
          if (winner) return replay(winner, hash);
        }
        throw error;
      }
    },

    /** A booking its customer, transporter or driver may see, with its history. */
    async getBooking(
      principal: Principal,
      bookingId: string,
    ): Promise<{ booking: BookingRow; relation: Relation; history: HistoryRow[] }> {
      const { booking, relation } = await visibleBooking(principal, bookingId);
      return { booking, relation, history: await repo.historyAfter(db, booking.id, 0) };
    },

    /** One page of the caller's bookings, newest first. */
    async listBookings(
      principal: Principal,
      query: { pageSize: number; pageToken: string; status: BookingStatus | undefined },
    ): Promise<Page<BookingRow>> {
      const column =
        principal.role === "customer"
          ? "customer_id"
          : principal.role === "transporter"
            ? "transporter_id"
            : "driver_user_id";
      const limit = pageSize(query.pageSize);
      const rows = await repo.listBookings(db, {
        column,
        userId: principal.userId,
        status: query.status,
        afterId: decodePageToken(query.pageToken),
        limit: limit + 1,
      });
      return pageOf(rows, limit);
    },

    /** One of the customer's orders with its bookings. */
    async getOrder(principal: Principal, orderId: string): Promise<OrderView> {
      const order = await repo.findOrder(db, validateId(orderId, "order_id"));
      if (!order || principal.role !== "customer" || order.customer_id !== principal.userId) {
        throw new NotFoundError("order not found", { reason: "ORDER_NOT_FOUND", field: "order_id" });
      }
      return orderView(order);
    },

    /** The customer cancels (free, or with a fee); the transporter or driver gives the booking up (reopen). */
    async cancelBooking(
      principal: Principal,
      bookingId: string,
      reasonText: string,
    ): Promise<{ booking: BookingRow; relation: Relation; feePaise: number; reopened: boolean }> {
      const { booking, relation } = await visibleBooking(principal, bookingId);
      const reason = validateText(reasonText, "reason");
      if (relation === "customer") {
        const { feePaise } = planCustomerCancellation(
          booking.status,
          Number(booking.fare_paise),
          settings.cancellationFee,
        );
        const updated = await transitionOrExplain({
          booking,
          to: "cancelled",
          set: { cancellation_fee_paise: feePaise, cancellation_reason: reason },
          actorRole: "customer",
          actorId: principal.userId,
          reason,
          feePaise,
          event: BOOKING_CANCELLED_EVENT,
        });
        return { booking: updated, relation, feePaise, reopened: false };
      }
      if (reason === "")
        throw new InvalidArgumentError("reason", "reason is required when a transporter or driver gives a booking up");
      checkReopen(booking.status, PARTICIPANT_REOPENABLE);
      const updated = await transitionOrExplain({
        booking,
        to: "pending",
        set: CLEARED_ASSIGNMENT,
        actorRole: relation,
        actorId: principal.userId,
        reason,
        reopened: true,
        event: BOOKING_REOPENED_EVENT,
      });
      return { booking: updated, relation, feePaise: 0, reopened: true };
    },

    /**
     * The assigned driver's trip steps, with the pickup and delivery codes. A step the booking
     * already took is answered with the booking as it is (an app retrying after a lost answer,
     * or sending twice), without a second change or event.
     */
    async updateStatus(
      principal: Principal,
      bookingId: string,
      requested: BookingStatus,
      location: Point | undefined,
      code: string,
    ): Promise<{ booking: BookingRow; relation: Relation }> {
      const { booking, relation } = await visibleBooking(principal, bookingId);
      if (relation === "driver" && booking.status === requested) return { booking, relation };
      const plan = planDriverStep(booking.status, requested, relation);
      const at = location ? validatePoint(location, "location") : undefined;
      if (plan.code) await checkTripCode(booking, plan.code, code);
      if (deps.arrivals && booking.driver_id && (requested === "at_pickup" || requested === "at_dropoff")) {
        const stop = requested === "at_pickup" ? "pickup" : "drop";
        await deps.arrivals.check({
          bookingId: booking.id,
          driverId: booking.driver_id,
          stop,
          stopLocation: booking[stop].location,
        });
      }
      const updated = await transition({
        booking,
        to: requested,
        // An accepted code starts a fresh count for the next one.
        ...(plan.code ? { set: { code_failures: 0, code_locked_until: null } } : {}),
        actorRole: "driver",
        actorId: principal.userId,
        location: at,
        event: BOOKING_STATUS_CHANGED_EVENT,
      });
      if (updated) return { booking: updated, relation };
      // The same step sent twice at once: the other request took it.
      const current = await repo.findBooking(db, booking.id);
      if (current?.status === requested && current.driver_id === booking.driver_id)
        return { booking: current, relation };
      return explainLostRace(booking.id, requested);
    },

    // ------------------------------------------------------------------------- dispatch (internal)

    /** PENDING → CONFIRMED for a transporter; a retry by the same transporter returns the booking. */
    async confirmBooking(bookingId: string, transporterIdText: string): Promise<BookingRow> {
      const transporterId = validateId(transporterIdText, "transporter_id");
      const booking = await dispatchBooking(bookingId);
      if (booking.status === "confirmed" && booking.transporter_id === transporterId) return booking;
      checkDispatchStep(booking.status, "confirmed");
      return transitionOrExplain({
        booking,
        to: "confirmed",
        set: { transporter_id: transporterId },
        actorRole: "dispatch",
        actorId: transporterId,
        event: BOOKING_STATUS_CHANGED_EVENT,
      });
    },

    /** CONFIRMED → ASSIGNED with the confirming transporter's driver and vehicle; a retry returns the booking. */
    async assignBooking(bookingId: string, input: Assignment): Promise<BookingRow> {
      const transporterId = validateId(input.transporterId, "transporter_id");
      const driverId = validateId(input.driverId, "driver_id");
      const driverUserId = validateId(input.driverUserId, "driver_user_id");
      const vehicleId = validateId(input.vehicleId, "vehicle_id");
      const booking = await dispatchBooking(bookingId);
      if (
        booking.status === "assigned" &&
        booking.transporter_id === transporterId &&
        booking.driver_id === driverId &&
        booking.vehicle_id === vehicleId
      )
        return booking;
      checkDispatchStep(booking.status, "assigned");
      if (booking.transporter_id !== transporterId) {
        throw new FailedPreconditionError("the booking was confirmed by another transporter", {
          reason: "TRANSPORTER_MISMATCH",
          field: "transporter_id",
        });
      }
      const updated = await transition({
        booking,
        to: "assigned",
        set: { driver_id: driverId, driver_user_id: driverUserId, vehicle_id: vehicleId },
        actorRole: "dispatch",
        actorId: transporterId,
        event: BOOKING_STATUS_CHANGED_EVENT,
      });
      return updated ?? explainLostRace(booking.id, "assigned");
    },

    /** CONFIRMED or ASSIGNED → PENDING, transporter and driver cleared (booking.reopened). */
    async reopenBooking(bookingId: string, reasonText: string): Promise<BookingRow> {
      const reason = validateText(reasonText, "reason");
      const booking = await dispatchBooking(bookingId);
      checkReopen(booking.status, DISPATCH_REOPENABLE);
      return transitionOrExplain({
        booking,
        to: "pending",
        set: CLEARED_ASSIGNMENT,
        actorRole: "dispatch",
        actorId: booking.transporter_id ?? "",
        reason,
        reopened: true,
        event: BOOKING_REOPENED_EVENT,
      });
    },

    /**
     * PENDING → CANCELLED because dispatch's broadcast ended with nobody taking the booking
     * (reason NO_TRANSPORTER_FOUND, booking.expired); a retry returns the booking.
     */
    async expireBooking(bookingId: string): Promise<BookingRow> {
      const booking = await dispatchBooking(bookingId);
      if (booking.status === "cancelled" && booking.cancellation_reason === NO_TRANSPORTER_FOUND) return booking;
      if (booking.status !== "pending") throw illegalTransition(booking.status, "cancelled");
      return transitionOrExplain({
        booking,
        to: "cancelled",
        set: { cancellation_fee_paise: 0, cancellation_reason: NO_TRANSPORTER_FOUND },
        actorRole: "dispatch",
        actorId: "",
        reason: NO_TRANSPORTER_FOUND,
        event: BOOKING_EXPIRED_EVENT,
      });
    },

    // ------------------------------------------------------------------------------------ watch

    /**
     * The booking's current state, then its changes in sequence order, read from the database
     * (the source of truth) whenever an event of this booking is published or every
     * WATCH_POLL_MS; ends after a final status (COMPLETED, CANCELLED) or when `signal` aborts.
     */
    async *watch(
      principal: Principal,
      bookingId: string,
      afterSequence: number,
      signal: AbortSignal,
    ): AsyncGenerator<WatchEvent> {
      if (!Number.isSafeInteger(afterSequence) || afterSequence < 0)
        throw new InvalidArgumentError("after_sequence", "after_sequence must not be negative");
      const id = validateId(bookingId, "booking_id");
      let woken = false;
      let wake: (() => void) | undefined;
      const subscription = bus.subscribe(`${root}.>`, (msg) => {
        try {
          if (EventEnvelope.decode(msg.data).subjectId !== id) return;
        } catch {
          return;
        }
        woken = true;
        wake?.();
      });
      try {
        const { booking, relation } = await visibleBooking(principal, id);
        yield { kind: "state", booking, relation };
        let last = afterSequence > 0 ? afterSequence : Number(booking.sequence);
        let status = booking.status;
        while (!signal.aborted) {
          woken = false;
          for (const change of await repo.historyAfter(db, id, last)) {
            if (signal.aborted) return;
            yield { kind: "change", change };
            last = Number(change.sequence);
            status = change.to_status;
          }
          if (TERMINAL.includes(status) && last >= Number(booking.sequence)) return;
          if (woken) continue;
          await new Promise<void>((resolve) => {
            const done = () => {
              clearTimeout(timer);
              signal.removeEventListener("abort", done);
              wake = undefined;
              resolve();
            };
            const timer = setTimeout(done, settings.watchPollMs);
            signal.addEventListener("abort", done, { once: true });
            wake = done;
          });
        }
      } finally {
        subscription.unsubscribe();
      }
    },

    // -------------------------------------------------------------------------------- scheduler

    /** Broadcasts scheduled bookings whose time has come (booking.created); returns how many. */
    async broadcastDue(limit = 100): Promise<number> {
      const at = now();
      const claimed = await db.transaction().execute(async (trx) => {
        const rows = await repo.claimDueBroadcasts(trx, at, limit);
        if (rows.length === 0) return rows;
        const counts = new Map<string, number>();
        for (const order of await trx
          .selectFrom("orders")
          .select(["id", "vehicle_count"])
          .where("id", "in", [...new Set(rows.map((r) => r.order_id))])
          .execute()) {
          counts.set(order.id, order.vehicle_count);
        }
        for (const row of rows.sort((a, b) => (a.id < b.id ? -1 : 1)))
          await recordBookingCreated(trx, root, row, counts.get(row.order_id) ?? 1);
        return rows;
      });
      if (claimed.length > 0) {
        events.committed();
        logger.info({ count: claimed.length }, "scheduled bookings broadcast");
      }
      return claimed.length;
    },
  };
}
