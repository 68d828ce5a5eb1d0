/**
 * driver_notices: per driver, the last trip taken away from them (cancelled, reopened, moved to
 * another driver). The live command reaches only a stream that is open at that moment (and core
 * NATS carries it to another replica at most once), so the notice is kept and repeated when the
 * driver's stream next opens, under the same command id.
 */
import { sql, type Kysely, type Transaction } from "kysely";
import type { TrackingDatabase } from "./tracking.table.js";

type Db = Kysely<TrackingDatabase> | Transaction<TrackingDatabase>;

/** A trip a driver was on, cancelled or reopened (taken away, offered again), as the driver is told it. */
export interface TakenAwayNotice {
  kind: "cancelled" | "reopened";
  bookingId: string;
  reason: string;
  /** The booking event's id: the command's id, live and repeated. */
  eventId: string;
  /** When the booking event happened. */
  issuedAt: Date;
}

/**
 * Keeps the notice as the driver's last, unless a later one is kept already (events of two
 * bookings of one driver may be applied out of order). Ties on time go by command id.
 */
export async function recordDriverNotice(db: Db, driverId: string, notice: TakenAwayNotice): Promise<void> {
  await db
    .insertInto("driver_notices")
    .values({
      driver_id: driverId,
      booking_id: notice.bookingId,
      kind: notice.kind,
      reason: notice.reason,
      command_id: notice.eventId,
      issued_at: notice.issuedAt,
    })
    .onConflict((oc) =>
      oc
        .column("driver_id")
        .doUpdateSet({
          booking_id: sql`excluded.booking_id`,
          kind: sql`excluded.kind`,
          reason: sql`excluded.reason`,
          command_id: sql`excluded.command_id`,
          issued_at: sql`excluded.issued_at`,
        })
        .where(
          sql<boolean>`(driver_notices.issued_at, driver_notices.command_id) < (excluded.issued_at, excluded.command_id)`,
        ),
    )
    .execute();
}

/** The driver's last notice, if a trip was ever taken away from them. */
export async function lastDriverNotice(db: Db, driverId: string): Promise<TakenAwayNotice | undefined> {
  const row = await db.selectFrom("driver_notices").selectAll().where("driver_id", "=", driverId).executeTakeFirst();
  return (
    row && {
      kind: row.kind,
      bookingId: row.booking_id,
      reason: row.reason,
      eventId: row.command_id,
      issuedAt: row.issued_at,
    }
  );
}
