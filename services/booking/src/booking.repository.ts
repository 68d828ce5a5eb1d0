/**
 * kysely queries of the booking schema: plain functions taking the db (or a transaction).
 * Every status change is ONE conditional statement (`where id = :id and status = :expected …
 * returning`) that also increments the booking's sequence; a change that lost a race matches
 * no row and writes nothing.
 */
import { sql, type Insertable, type Kysely, type Transaction, type Updateable } from "kysely";
import type {
  BookingDatabase,
  BookingRow,
  BookingStatus,
  BookingStatusHistoryTable,
  BookingsTable,
  HistoryRow,
  OrderRow,
  OrdersTable,
} from "./booking.table.js";

export type BookingDb = Kysely<BookingDatabase>;
export type BookingTrx = Transaction<BookingDatabase>;

export const Constraint = {
  orderIdempotencyKey: "orders_idempotency_key",
} as const;

export async function findOrderByIdempotencyKey(
  db: BookingDb,
  customerId: string,
  key: string,
): Promise<OrderRow | undefined> {
  return db
    .selectFrom("orders")
    .selectAll()
    .where("customer_id", "=", customerId)
    .where("idempotency_key", "=", key)
    .executeTakeFirst();
}

/**
 * Writes a new order with its bookings, their first history rows and their outbox rows in ONE
 * statement (data-modifying CTEs: atomic without BEGIN/COMMIT, one round trip instead of six)
 * and returns the bookings as stored, sorted by id. A duplicate idempotency key fails the whole
 * statement with a unique violation and writes nothing.
 */
export async function insertOrderWithBookings(
  db: BookingDb,
  rows: {
    order: Insertable<OrdersTable>;
    bookings: Insertable<BookingsTable>[];
    history: Insertable<BookingStatusHistoryTable>[];
    outbox: Insertable<BookingDatabase["outbox"]>[];
  },
): Promise<BookingRow[]> {
  let query = db
    .with("new_order", (q) => q.insertInto("orders").values(rows.order).returning("id"))
    .with("new_bookings", (q) => q.insertInto("bookings").values(rows.bookings).returningAll())
    .with("new_history", (q) => q.insertInto("booking_status_history").values(rows.history).returning("booking_id"));
  if (rows.outbox.length > 0)
    query = query.with("new_events", (q) =>
      q.insertInto("outbox").values(rows.outbox).returning("id"),
    ) as unknown as typeof query;
  const bookings = await query.selectFrom("new_bookings").selectAll().execute();
  return (bookings as BookingRow[]).sort((a, b) => (a.id < b.id ? -1 : 1));
}

export async function insertHistory(trx: BookingTrx, rows: Insertable<BookingStatusHistoryTable>[]): Promise<void> {
  if (rows.length > 0) await trx.insertInto("booking_status_history").values(rows).execute();
}

export async function findOrder(db: BookingDb, id: string): Promise<OrderRow | undefined> {
  return db.selectFrom("orders").selectAll().where("id", "=", id).executeTakeFirst();
}

/** The number of trucks of each of the orders, by order id. */
export async function orderVehicleCounts(db: BookingDb, orderIds: string[]): Promise<Map<string, number>> {
  const rows = await db.selectFrom("orders").select(["id", "vehicle_count"]).where("id", "in", orderIds).execute();
  return new Map(rows.map((order) => [order.id, order.vehicle_count]));
}

export async function findBooking(db: BookingDb, id: string): Promise<BookingRow | undefined> {
  return db.selectFrom("bookings").selectAll().where("id", "=", id).executeTakeFirst();
}

export async function listOrderBookings(db: BookingDb, orderId: string): Promise<BookingRow[]> {
  return db.selectFrom("bookings").selectAll().where("order_id", "=", orderId).orderBy("id").execute();
}

/** One page of the bookings where `column` is the user, newest first, after the cursor id. */
export async function listBookings(
  db: BookingDb,
  query: {
    column: "customer_id" | "transporter_id" | "driver_user_id";
    userId: string;
    status: BookingStatus | undefined;
    afterId: string | undefined;
    limit: number;
  },
): Promise<BookingRow[]> {
  let q = db.selectFrom("bookings").selectAll().where(query.column, "=", query.userId);
  if (query.status) q = q.where("status", "=", query.status);
  if (query.afterId) q = q.where("id", "<", query.afterId);
  return q.orderBy("id", "desc").limit(query.limit).execute();
}

/**
 * The conditional transition: moves the booking from `expected` to `to` with the other
 * changes, increments its sequence, and returns the new row; undefined when the booking is no
 * longer in `expected` (someone else changed it first).
 */
export async function transitionBooking(
  trx: BookingTrx,
  change: {
    id: string;
    expected: BookingStatus;
    to: BookingStatus;
    set?: Omit<Updateable<BookingsTable>, "status" | "sequence" | "updated_at">;
    now: Date;
    /** Also required: the booking's change number (a change that keeps the status, e.g. a reassignment). */
    expectedSequence?: string;
  },
): Promise<BookingRow | undefined> {
  let q = trx
    .updateTable("bookings")
    .set({ ...change.set, status: change.to, sequence: sql<string>`sequence + 1`, updated_at: change.now })
    .where("id", "=", change.id)
    .where("status", "=", change.expected);
  if (change.expectedSequence !== undefined) q = q.where("sequence", "=", change.expectedSequence);
  return q.returningAll().executeTakeFirst();
}

/**
 * Counts one code attempt BEFORE the code is compared, so concurrent guesses cannot outrun the
 * limit: at most `max` attempts are counted until the lock. The attempt that reaches `max`
 * sets the lock (it is still compared: a right code clears the lock with the transition). A
 * lock that has expired starts a new count. Undefined when code entry is locked now.
 */
export async function claimCodeAttempt(
  db: BookingDb,
  bookingId: string,
  limits: { max: number; lockMs: number },
  now: Date,
): Promise<{ failures: number; lockedUntil: Date | null } | undefined> {
  const expired = sql<boolean>`code_locked_until is not null and code_locked_until <= ${now}`;
  const counted = sql<number>`case when ${expired} then 1 else code_failures + 1 end`;
  const row = await db
    .updateTable("bookings")
    .set({
      code_failures: counted,
      code_locked_until: sql<Date | null>`case when ${counted} >= ${limits.max} then ${new Date(now.getTime() + limits.lockMs)}::timestamptz else null end`,
    })
    .where("id", "=", bookingId)
    .where((eb) => eb.or([eb("code_locked_until", "is", null), eb("code_locked_until", "<=", now)]))
    .where(sql<boolean>`(${counted}) <= ${limits.max}`)
    .returning(["code_failures", "code_locked_until"])
    .executeTakeFirst();
  return row ? { failures: row.code_failures, lockedUntil: row.code_locked_until } : undefined;
}

/** When code entry of a booking is locked until, if it is. */
export async function codeLockedUntil(db: BookingDb, bookingId: string): Promise<Date | null> {
  const row = await db
    .selectFrom("bookings")
    .select("code_locked_until")
    .where("id", "=", bookingId)
    .executeTakeFirst();
  return row?.code_locked_until ?? null;
}

/** The booking's history after a sequence, oldest first. */
export async function historyAfter(db: BookingDb, bookingId: string, afterSequence: number): Promise<HistoryRow[]> {
  return db
    .selectFrom("booking_status_history")
    .selectAll()
    .where("booking_id", "=", bookingId)
    .where("sequence", ">", String(afterSequence))
    .orderBy("sequence")
    .execute();
}

/**
 * Claims scheduled bookings due for broadcast: marks them broadcast and returns them, in one
 * statement over rows locked `FOR UPDATE SKIP LOCKED`, so several replicas never claim the
 * same row. Bookings cancelled meanwhile are never broadcast.
 */
export async function claimDueBroadcasts(trx: BookingTrx, now: Date, limit: number): Promise<BookingRow[]> {
  const due = trx
    .selectFrom("bookings")
    .select("id")
    .where("broadcasted_at", "is", null)
    .where("broadcast_at", "<=", now)
    .where("status", "=", "pending")
    .orderBy("broadcast_at")
    .limit(limit)
    .forUpdate()
    .skipLocked();
  return trx
    .updateTable("bookings")
    .set({ broadcasted_at: now })
    .where("id", "in", due)
    .where("broadcasted_at", "is", null)
    .returningAll()
    .execute();
}
