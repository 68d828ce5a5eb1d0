/**
 * driver_notices: per driver, the last trip taken away from them (cancelled, reopened, moved to
 * another driver). The live command reaches only a stream that is open at that moment (and core
 * NATS carries it to another replica at most once), so the notice is kept and repeated when the
 * driver's stream next opens, under the same command id.
 */
import { sql, type Kysely, type Transaction } from "kysely";
import type { DriverNoticeRow, TrackingDatabase } from "./tracking.table.js";

type Db = Kysely<TrackingDatabase> | Transaction<TrackingDatabase>;

/**
 * Keeps the notice as the driver's last, unless a later one is kept already (events of two
 * bookings of one driver may be applied out of order). Ties on time go by command id.
 */
export async function recordDriverNotice(db: Db, notice: DriverNoticeRow): Promise<void> {
  await db
    .insertInto("driver_notices")
    .values(notice)
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
export async function lastDriverNotice(db: Db, driverId: string): Promise<DriverNoticeRow | undefined> {
  return db.selectFrom("driver_notices").selectAll().where("driver_id", "=", driverId).executeTakeFirst();
}
