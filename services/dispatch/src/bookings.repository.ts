/** kysely queries of dispatch's bookings: the trucks of an order, their claims, the booking calls owed and the assign deadlines. */
import { sql, type Updateable } from "kysely";
import type { DispatchDb, DispatchTrx } from "./dispatch.repository.js";
import type { DispatchBookingRow, BookingsTable } from "./dispatch.table.js";

/** Records a booking of an order as open, unless dispatch knows it already (a redelivery). */
export async function insertOpenBooking(
  trx: DispatchTrx,
  booking: { bookingId: string; orderId: string; seq: number },
): Promise<boolean> {
  const row = await trx
    .insertInto("bookings")
    .values({ booking_id: booking.bookingId, order_id: booking.orderId, state: "open", booking_seq: booking.seq })
    .onConflict((oc) => oc.column("booking_id").doNothing())
    .returning("booking_id")
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * A booking cancelled (or expired) before its booking.created was handled: a tombstone keeps
 * that one from opening it. Nothing happens when dispatch knows the booking already.
 */
export async function insertBookingTombstone(
  trx: DispatchTrx,
  booking: { bookingId: string; orderId: string; state: "cancelled" | "expired"; seq: number },
): Promise<void> {
  await trx
    .insertInto("bookings")
    .values({
      booking_id: booking.bookingId,
      order_id: booking.orderId,
      state: booking.state,
      booking_seq: booking.seq,
    })
    .onConflict((oc) => oc.column("booking_id").doNothing())
    .execute();
}

/**
 * Records a booking event's sequence when it is newer than the last one seen; `completed`
 * (the trip ended) also closes an assigned booking, which frees its driver and vehicle.
 */
export async function recordBookingSequence(
  db: DispatchDb,
  change: { bookingId: string; seq: number; completed: boolean; now: Date },
): Promise<void> {
  let q = db
    .updateTable("bookings")
    .set(
      change.completed
        ? { booking_seq: change.seq, state: "closed", updated_at: change.now }
        : { booking_seq: change.seq, updated_at: change.now },
    )
    .where("booking_id", "=", change.bookingId)
    .where("booking_seq", "<", String(change.seq));
  if (change.completed) q = q.where("state", "=", "assigned");
  await q.execute();
}

export function findBooking(db: DispatchDb, bookingId: string): Promise<DispatchBookingRow | undefined> {
  return db.selectFrom("bookings").selectAll().where("booking_id", "=", bookingId).executeTakeFirst();
}

export function lockBooking(trx: DispatchTrx, bookingId: string): Promise<DispatchBookingRow | undefined> {
  return trx.selectFrom("bookings").selectAll().where("booking_id", "=", bookingId).forUpdate().executeTakeFirst();
}

export function updateBooking(
  trx: DispatchDb | DispatchTrx,
  bookingId: string,
  set: Updateable<BookingsTable>,
  where: {
    states?: DispatchBookingRow["state"][];
    bookingCall?: DispatchBookingRow["booking_call"] | "any";
    transporterId?: string;
  } = {},
): Promise<DispatchBookingRow | undefined> {
  let q = trx
    .updateTable("bookings")
    .set({ ...set, updated_at: new Date() })
    .where("booking_id", "=", bookingId);
  if (where.states) q = q.where("state", "in", where.states);
  if (where.bookingCall === null) q = q.where("booking_call", "is", null);
  else if (where.bookingCall !== undefined && where.bookingCall !== "any")
    q = q.where("booking_call", "=", where.bookingCall);
  if (where.transporterId) q = q.where("transporter_id", "=", where.transporterId);
  return q.returningAll().executeTakeFirst();
}

/** Hands `count` open bookings of the order to a transporter (the broadcast row is locked by the caller's takeTrucks). */
export function claimOpenBookings(
  trx: DispatchTrx,
  claim: {
    orderId: string;
    count: number;
    transporterId: string;
    offerId: string;
    now: Date;
    assignBy: Date;
    bookingCallDueAt: Date;
  },
): Promise<DispatchBookingRow[]> {
  // The pick is a MATERIALIZED CTE, run once: as a plain `IN (SELECT … LIMIT n FOR UPDATE)` the
  // planner may rescan it per row of the update (a plan Postgres chose once the table gained
  // columns), and each rescan, seeing the rows already taken locked and changed, picked others:
  // three trucks handed over for two.
  return trx
    .with(
      (cte) => cte("picked").materialized(),
      (q) =>
        q
          .selectFrom("bookings")
          .select("booking_id")
          .where("order_id", "=", claim.orderId)
          .where("state", "=", "open")
          .orderBy("booking_id")
          .limit(claim.count)
          .forUpdate(),
    )
    .updateTable("bookings")
    .set({
      state: "accepted",
      transporter_id: claim.transporterId,
      offer_id: claim.offerId,
      accepted_at: claim.now,
      assign_by: claim.assignBy,
      booking_call: "confirm",
      booking_call_due_at: claim.bookingCallDueAt,
      booking_call_attempts: 0,
      updated_at: claim.now,
    })
    .where("booking_id", "in", (eb) => eb.selectFrom("picked").select("picked.booking_id"))
    .where("state", "=", "open")
    .returningAll()
    .execute();
}

/** The bookings an acceptance handed over that are still the transporter's (none once reopened). */
export function bookingsOfOffer(db: DispatchDb, offerId: string, transporterId: string): Promise<DispatchBookingRow[]> {
  return db
    .selectFrom("bookings")
    .selectAll()
    .where("offer_id", "=", offerId)
    .where("transporter_id", "=", transporterId)
    .orderBy("booking_id")
    .execute();
}

export async function openBookingIds(db: DispatchDb | DispatchTrx, orderId: string): Promise<string[]> {
  const rows = await db
    .selectFrom("bookings")
    .select("booking_id")
    .where("order_id", "=", orderId)
    .where("state", "=", "open")
    .orderBy("booking_id")
    .execute();
  return rows.map((r) => r.booking_id);
}

/** The order's open bookings become `state` with a booking call owed (the expiry). */
export function markOpenBookings(
  trx: DispatchTrx,
  orderId: string,
  set: Updateable<BookingsTable>,
): Promise<DispatchBookingRow[]> {
  return trx
    .updateTable("bookings")
    .set({ ...set, updated_at: new Date() })
    .where("order_id", "=", orderId)
    .where("state", "=", "open")
    .returningAll()
    .execute();
}

export async function countTakenBookings(trx: DispatchTrx, orderId: string): Promise<number> {
  const row = await trx
    .selectFrom("bookings")
    .select(sql<string>`count(*)`.as("n"))
    .where("order_id", "=", orderId)
    .where("state", "in", ["accepted", "assigned", "closed"])
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Claims booking calls that are due: the lease moves booking_call_due_at forward, SKIP LOCKED. */
export function claimDueBookingCalls(
  db: DispatchDb,
  claim: { now: Date; leaseUntil: Date; limit: number },
): Promise<DispatchBookingRow[]> {
  const due = db
    .selectFrom("bookings")
    .select("booking_id")
    .where("booking_call", "is not", null)
    .where("booking_call_due_at", "<=", claim.now)
    .orderBy("booking_call_due_at")
    .limit(claim.limit)
    .forUpdate()
    .skipLocked();
  return db
    .updateTable("bookings")
    .set({
      booking_call_due_at: claim.leaseUntil,
      booking_call_attempts: sql<number>`booking_call_attempts + 1`,
      updated_at: claim.now,
    })
    .where("booking_id", "in", due)
    .where("booking_call", "is not", null)
    .where("booking_call_due_at", "<=", claim.now)
    .returningAll()
    .execute();
}

/** Acceptances whose assign deadline passed without a driver: each becomes owed a ReopenBooking. */
export function claimMissedDeadlines(
  db: DispatchDb,
  claim: { now: Date; leaseUntil: Date; limit: number },
): Promise<DispatchBookingRow[]> {
  const due = db
    .selectFrom("bookings")
    .select("booking_id")
    .where("state", "=", "accepted")
    .where("booking_call", "is", null)
    .where("assign_by", "<=", claim.now)
    .orderBy("assign_by")
    .limit(claim.limit)
    .forUpdate()
    .skipLocked();
  return db
    .updateTable("bookings")
    .set({
      state: "reopening",
      booking_call: "reopen",
      booking_call_due_at: claim.leaseUntil,
      booking_call_attempts: 1,
      updated_at: claim.now,
    })
    .where("booking_id", "in", due)
    .where("state", "=", "accepted")
    .where("booking_call", "is", null)
    .returningAll()
    .execute();
}
