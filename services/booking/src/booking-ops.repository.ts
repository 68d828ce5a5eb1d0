/**
 * kysely queries of operations' reads: the search across every customer's bookings (keyset
 * pages on the UUIDv7 id, newest first; each filter has its index, migration
 * 2026_12_07_002_ops_search_indexes) and the hourly funnel (one statement).
 */
import { sql } from "kysely";
import type { BookingDb } from "./booking.repository.js";
import type { BookingRow, BookingStatus } from "./booking.table.js";

export interface BookingSearch {
  statuses: BookingStatus[];
  /** Lower-cased; empty matches any city. */
  pickupCity: string;
  createdFrom: Date | undefined;
  createdTo: Date | undefined;
  customerIds: string[];
  bookingId: string | undefined;
  afterId: string | undefined;
  limit: number;
}

/** The lower-cased pickup city, as its index holds it. */
export const pickupCityKey = sql<string>`lower(pickup->>'city')`;

export async function searchBookings(db: BookingDb, query: BookingSearch): Promise<BookingRow[]> {
  let q = db.selectFrom("bookings").selectAll();
  if (query.bookingId) q = q.where("id", "=", query.bookingId);
  if (query.statuses.length > 0) q = q.where("status", "in", query.statuses);
  if (query.pickupCity !== "") q = q.where(pickupCityKey, "=", query.pickupCity);
  if (query.createdFrom) q = q.where("created_at", ">=", query.createdFrom);
  if (query.createdTo) q = q.where("created_at", "<", query.createdTo);
  if (query.customerIds.length > 0) q = q.where("customer_id", "in", query.customerIds);
  if (query.afterId) q = q.where("id", "<", query.afterId);
  return q.orderBy("id", "desc").limit(query.limit).execute();
}

export interface FunnelRow {
  hour_start: Date;
  orders_created: number;
  bookings_created: number;
  assigned: number;
  completed: number;
  expired: number;
  cancelled: number;
}

/** The reason of a booking cancelled because nobody took it (dispatch's expiry). */
const NO_TRANSPORTER_FOUND = "NO_TRANSPORTER_FOUND";

/**
 * One row per hour in [from, to) (both whole hours, UTC), empty hours included: orders and
 * bookings created, and from the history the bookings first assigned (CONFIRMED → ASSIGNED; a
 * reassignment is not counted), completed, expired and cancelled (by a customer or operations)
 * in that hour. One statement: generate_series gives the hours, each count a range scan of an
 * index on the time column.
 */
export async function bookingFunnel(db: BookingDb, from: Date, to: Date): Promise<FunnelRow[]> {
  const hourEnd = sql<Date>`h.hour_start + interval '1 hour'`;
  const inHour = (column: string) =>
    sql<boolean>`${sql.ref(column)} >= h.hour_start and ${sql.ref(column)} < ${hourEnd}`;
  const count = (expression: ReturnType<typeof sql>) => sql<string>`coalesce(${expression}, 0)`;
  const rows = await db
    .selectFrom(
      sql<{
        hour_start: Date;
      }>`generate_series(${from}::timestamptz, ${new Date(to.getTime() - 3_600_000)}::timestamptz, interval '1 hour')`.as(
        sql`h(hour_start)` as never,
      ),
    )
    .select((eb) => [
      sql<Date>`h.hour_start`.as("hour_start"),
      eb
        .selectFrom("orders")
        .select(eb.fn.countAll<string>().as("n"))
        .where(inHour("orders.created_at"))
        .as("orders_created"),
      eb
        .selectFrom("bookings")
        .select(eb.fn.countAll<string>().as("n"))
        .where(inHour("bookings.created_at"))
        .as("bookings_created"),
      eb
        .selectFrom("booking_status_history as c")
        .select(count(sql`count(*) filter (where c.to_status = 'assigned' and c.from_status = 'confirmed')`).as("n"))
        .where(inHour("c.occurred_at"))
        .as("assigned"),
      eb
        .selectFrom("booking_status_history as c")
        .select(count(sql`count(*) filter (where c.to_status = 'completed')`).as("n"))
        .where(inHour("c.occurred_at"))
        .as("completed"),
      eb
        .selectFrom("booking_status_history as c")
        .select(
          count(sql`count(*) filter (where c.to_status = 'cancelled' and c.reason = ${NO_TRANSPORTER_FOUND})`).as("n"),
        )
        .where(inHour("c.occurred_at"))
        .as("expired"),
      eb
        .selectFrom("booking_status_history as c")
        .select(
          count(sql`count(*) filter (where c.to_status = 'cancelled' and c.actor_role in ('customer', 'ops'))`).as("n"),
        )
        .where(inHour("c.occurred_at"))
        .as("cancelled"),
    ])
    .orderBy(sql`h.hour_start`)
    .execute();
  return rows.map((row) => ({
    hour_start: new Date(row.hour_start),
    orders_created: Number(row.orders_created ?? 0),
    bookings_created: Number(row.bookings_created ?? 0),
    assigned: Number(row.assigned ?? 0),
    completed: Number(row.completed ?? 0),
    expired: Number(row.expired ?? 0),
    cancelled: Number(row.cancelled ?? 0),
  }));
}
