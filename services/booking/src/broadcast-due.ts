/**
 * Scheduled bookings: a booking for later opens to transporters (booking.created) its lead time
 * before the pickup. Every replica polls (booking.module.ts); the claim (FOR UPDATE SKIP LOCKED
 * and a conditional update) lets each due booking go out once.
 */
import type { BookingContext } from "./booking.context.js";
import { recordBookingCreated } from "./booking.events.js";
import * as repo from "./booking.repository.js";

export function createBroadcastDue(ctx: Pick<BookingContext, "db" | "now" | "root" | "events" | "logger">) {
  const { db, now, root, events, logger } = ctx;

  /** Broadcasts scheduled bookings whose time has come (booking.created); returns how many. */
  async function broadcastDue(limit: number): Promise<number> {
    const at = now();
    const claimed = await db.transaction().execute(async (trx) => {
      const rows = await repo.claimDueBroadcasts(trx, at, limit);
      if (rows.length === 0) return rows;
      const counts = await repo.orderVehicleCounts(trx, [...new Set(rows.map((r) => r.order_id))]);
      for (const row of rows.sort((a, b) => (a.id < b.id ? -1 : 1)))
        await recordBookingCreated(trx, root, row, counts.get(row.order_id) ?? 1);
      return rows;
    });
    if (claimed.length > 0) {
      events.committed();
      logger.info({ count: claimed.length }, "scheduled bookings broadcast");
    }
    return claimed.length;
  }

  return broadcastDue;
}
