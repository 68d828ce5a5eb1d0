/**
 * CreateBooking: a customer books the trucks of a quote. One order, one PENDING booking per
 * truck, their first history rows and (for a trip now) their booking.created events, written in
 * one statement; an idempotency key makes a retry answer with the order it made.
 */
import { randomInt } from "node:crypto";
import type { Principal } from "@weelo/auth";
import { isUniqueViolation } from "@weelo/db";
import { AlreadyExistsError, InvalidArgumentError, PermissionDeniedError } from "@weelo/errors";
import { outboxRow } from "@weelo/outbox";
import type { Insertable } from "kysely";
import { v7 as uuidv7 } from "uuid";
import type { BookingContext, OrderView, RedeemedQuote } from "./booking.context.js";
import { bookingCreatedEvent, type BookingCreatedFacts } from "./booking.events.js";
import * as repo from "./booking.repository.js";
import {
  broadcastAt,
  checkRequestMatchesQuote,
  requestHash,
  validateAddress,
  validateGoodsType,
  validateIdempotencyKey,
  validateScheduledAt,
  validateText,
  type AddressInput,
} from "./booking.rules.js";
import type { BookingsTable, OrderRow } from "./booking.table.js";

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

/** A 4-digit pickup or delivery code. */
function tripCode(): string {
  return String(randomInt(0, 10_000)).padStart(4, "0");
}

export function createCreateBooking(ctx: BookingContext) {
  const { db, events, settings, logger, quotes, now, root, orderView } = ctx;

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

  /** Books the trucks of a quote: one order, one PENDING booking per truck. */
  async function createBooking(principal: Principal, input: NewBooking): Promise<OrderView> {
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
    const notes = validateText(input.notes, "notes", true);
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
      throw new InvalidArgumentError("quote_token", "quote_token is required: book with the token GetQuote returned", {
        reason: "QUOTE_INVALID",
      });

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
  }

  return createBooking;
}
