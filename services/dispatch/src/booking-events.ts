/**
 * Booking's events, consumed: a booking created (opened for broadcast), reopened (back to
 * broadcast), cancelled or expired (its truck closed; the order's offers withdrawn when none
 * is left), and any other change (its sequence recorded; a completed trip frees its driver and
 * vehicle). Each event's sequence is kept on the booking row, so a late or repeated event
 * changes nothing.
 */
import type { BookingCreated, BookingStatusChanged } from "@weelo/contracts/grpc/weelo/booking/v1/events";
import type { DispatchContext } from "./dispatch.context.js";
import { publishOffers, recordOffersWithdrawn } from "./dispatch.events.js";
import * as repo from "./dispatch.repository.js";
import { firstWaveAt, roundLengthMs } from "./dispatch.rules.js";
import type { OfferRow } from "./dispatch.table.js";
import { tripOf, type Waves } from "./waves.js";

/** Thrown inside an event's transaction to roll it back when the booking is known already. */
class AlreadyKnown extends Error {}

export function createBookingEvents(
  ctx: DispatchContext,
  waves: Pick<Waves, "addOpenTrucks" | "afterTrucksChanged" | "openWithFirstWave">,
) {
  const { db, bus, events, settings, logger, metrics, now, later, root, offersOf } = ctx;
  const { addOpenTrucks, afterTrucksChanged, openWithFirstWave } = waves;

  async function onBookingCreated(event: BookingCreated, sequence: number): Promise<void> {
    const at = now();
    const vehicleCount = Math.max(1, event.orderVehicleCount);
    // The common case takes one statement; orders of several trucks gather their bookings first.
    if (vehicleCount === 1 && (await openWithFirstWave(event, sequence, at))) return;
    const broadcast = await db
      .transaction()
      .execute(async (trx) => {
        const first = firstWaveAt(1, vehicleCount, at, settings.gatherMs);
        const { broadcast, created } = await repo.ensureBroadcast(trx, {
          ...tripOf(event),
          vehicle_count: vehicleCount,
          known_bookings: 1,
          open_trucks: 1,
          status: "open",
          round: 1,
          wave: 0,
          next_wave_at: first,
          expires_at: later(roundLengthMs(settings.plan), first),
        });
        // The broadcast row is locked (or new) before the booking row: the order every transaction keeps.
        if (!(await repo.insertOpenBooking(trx, { bookingId: event.bookingId, orderId: event.orderId, seq: sequence })))
          throw new AlreadyKnown();
        return created ? broadcast : addOpenTrucks(trx, broadcast, 1, 1);
      })
      .catch((error: unknown) => {
        if (error instanceof AlreadyKnown) return undefined;
        throw error;
      });
    if (!broadcast) return; // a redelivery (or a booking cancelled before it opened): nothing changes
    logger.info(
      { bookingId: event.bookingId, orderId: event.orderId, openTrucks: broadcast.open_trucks },
      "booking open for broadcast",
    );
    await afterTrucksChanged(broadcast);
  }

  async function onBookingReopened(event: BookingStatusChanged, sequence: number): Promise<void> {
    const broadcast = await db.transaction().execute(async (trx) => {
      const locked = await repo.lockBroadcast(trx, event.orderId);
      const row = await repo.lockBooking(trx, event.bookingId);
      if (!row) {
        logger.warn({ bookingId: event.bookingId }, "a reopened booking dispatch never saw created is not broadcast");
        return undefined;
      }
      if (Number(row.booking_seq) >= sequence) return undefined;
      if (
        row.state === "cancelled" ||
        row.state === "expired" ||
        row.state === "expiring" ||
        row.state === "closed" ||
        row.state === "open"
      ) {
        await repo.updateBooking(trx, row.booking_id, { booking_seq: sequence });
        return undefined;
      }
      await repo.updateBooking(trx, row.booking_id, {
        state: "open",
        transporter_id: null,
        offer_id: null,
        accepted_at: null,
        assign_by: null,
        driver_id: null,
        driver_user_id: null,
        vehicle_id: null,
        assigned_at: null,
        booking_call: null,
        booking_call_due_at: null,
        booking_call_attempts: 0,
        booking_seq: sequence,
      });
      return locked ? addOpenTrucks(trx, locked, 1, 0) : undefined;
    });
    if (!broadcast) return;
    logger.info(
      { bookingId: event.bookingId, orderId: broadcast.order_id, round: broadcast.round },
      "reopened booking back to broadcast",
    );
    await afterTrucksChanged(broadcast);
  }

  /** booking.cancelled, or booking.expired (`expired`: dispatch's own expiry coming back). */
  async function onBookingCancelled(event: BookingStatusChanged, sequence: number, expired = false): Promise<void> {
    const at = now();
    const result = await db.transaction().execute(async (trx) => {
      const broadcast = await repo.lockBroadcast(trx, event.orderId);
      const row = await repo.lockBooking(trx, event.bookingId);
      if (!row) {
        // Cancelled before its booking.created was handled: a tombstone keeps that one from opening it.
        await repo.insertBookingTombstone(trx, {
          bookingId: event.bookingId,
          orderId: event.orderId,
          state: expired ? "expired" : "cancelled",
          seq: sequence,
        });
        return undefined;
      }
      if (Number(row.booking_seq) >= sequence) return undefined;
      const wasOpen = row.state === "open";
      const terminal = row.state === "expired" || row.state === "closed";
      await repo.updateBooking(
        trx,
        row.booking_id,
        terminal
          ? { booking_seq: sequence }
          : {
              state: expired ? "expired" : "cancelled",
              booking_call: null,
              booking_call_due_at: null,
              booking_seq: sequence,
            },
      );
      if (!wasOpen || !broadcast) return undefined;
      const open = Math.max(0, broadcast.open_trucks - 1);
      if (open > 0 || broadcast.status !== "open")
        return {
          broadcast: await repo.updateBroadcast(trx, broadcast.order_id, { open_trucks: open }),
          closed: [] as OfferRow[],
        };
      const taken = await repo.countTakenBookings(trx, broadcast.order_id);
      const updated = await repo.updateBroadcast(trx, broadcast.order_id, {
        open_trucks: 0,
        status: taken > 0 ? "filled" : "cancelled",
        next_wave_at: null,
        claim_token: null,
      });
      const reason = taken > 0 ? ("filled" as const) : ("cancelled" as const);
      const closed = await repo.closeOpenOffers(trx, broadcast.order_id, "withdrawn", reason, at);
      await recordOffersWithdrawn(trx, root, closed, reason, at);
      return { broadcast: updated, closed };
    });
    if (!result) return;
    if (result.closed.length > 0) {
      events.committed();
      metrics.offers.inc({ outcome: "withdrawn" }, result.closed.length);
      publishOffers(bus, root, offersOf(result.closed, result.broadcast));
      logger.info(
        { orderId: result.broadcast.order_id, withdrawn: result.closed.length },
        "order cancelled: open offers withdrawn",
      );
    } else {
      await afterTrucksChanged(result.broadcast);
    }
  }

  /** Any other status change: the event's sequence is recorded; a completed trip frees its driver and vehicle. */
  async function onBookingChanged(event: BookingStatusChanged, sequence: number, completed: boolean): Promise<void> {
    await repo.recordBookingSequence(db, { bookingId: event.bookingId, seq: sequence, completed, now: now() });
  }

  return { onBookingCreated, onBookingReopened, onBookingCancelled, onBookingChanged };
}
