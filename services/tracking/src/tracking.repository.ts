/** Kysely queries of the tracking schema, as plain functions. */
import type { Kysely } from "kysely";
import type { AcceptedPoint } from "./tracking.rules.js";
import type { TrackingDatabase } from "./tracking.table.js";

export interface BreadcrumbRow {
  bookingId: string;
  driverId: string;
  point: AcceptedPoint;
}

/** Rows per INSERT statement (9 parameters each, far below Postgres's 65 535). */
const ROWS_PER_STATEMENT = 1000;

/** Inserts breadcrumbs in one transaction; points already stored are skipped. */
export async function insertBreadcrumbs(db: Kysely<TrackingDatabase>, rows: readonly BreadcrumbRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
      await trx
        .insertInto("trip_points")
        .values(
          rows.slice(i, i + ROWS_PER_STATEMENT).map(({ bookingId, driverId, point }) => ({
            booking_id: bookingId,
            driver_id: driverId,
            seq: point.seq,
            recorded_at: new Date(point.recordedAt),
            lat: point.lat,
            lng: point.lng,
            accuracy_m: point.accuracyM,
            speed_mps: point.speedMps,
            heading: point.heading,
          })),
        )
        .onConflict((oc) => oc.columns(["booking_id", "driver_id", "seq"]).doNothing())
        .execute();
    }
  });
}

/** A trip's breadcrumbs in recording order (sequence order breaks ties). */
export async function tripPoints(db: Kysely<TrackingDatabase>, bookingId: string, limit: number) {
  return db
    .selectFrom("trip_points")
    .select(["seq", "recorded_at", "lat", "lng", "accuracy_m", "speed_mps", "heading"])
    .where("booking_id", "=", bookingId)
    .orderBy("recorded_at")
    .orderBy("seq")
    .limit(limit)
    .execute();
}
