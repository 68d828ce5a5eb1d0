/**
 * kysely queries of the dispatch schema: plain functions taking the db (or a transaction).
 * Claims are single conditional statements (`where … returning`), queues are read with
 * `FOR UPDATE SKIP LOCKED`, so replicas never take the same wave, call or truck twice.
 */
import { sql, type Insertable, type Kysely, type Transaction, type Updateable } from "kysely";
import type { OutboxTable } from "@weelo/outbox";
import type {
  DispatchBookingRow,
  BookingsTable,
  BroadcastRow,
  BroadcastsTable,
  DispatchDatabase,
  OfferRow,
  OffersTable,
  OfferStatus,
  WithdrawalReason,
} from "./dispatch.table.js";

export type DispatchDb = Kysely<DispatchDatabase>;
export type DispatchTrx = Transaction<DispatchDatabase>;

export const Constraint = {
  activeDriver: "bookings_active_driver_key",
  activeVehicle: "bookings_active_vehicle_key",
  bookingKey: "bookings_pkey",
  broadcastKey: "broadcasts_pkey",
} as const;

// ------------------------------------------------------------------------------ broadcasts

export function findBroadcast(db: DispatchDb, orderId: string): Promise<BroadcastRow | undefined> {
  return db.selectFrom("broadcasts").selectAll().where("order_id", "=", orderId).executeTakeFirst();
}

/** The broadcast, locked until the transaction ends. */
export function lockBroadcast(trx: DispatchTrx, orderId: string): Promise<BroadcastRow | undefined> {
  return trx.selectFrom("broadcasts").selectAll().where("order_id", "=", orderId).forUpdate().executeTakeFirst();
}

/** Creates the broadcast of an order unless it exists; returns it locked either way. */
export async function ensureBroadcast(
  trx: DispatchTrx,
  row: Insertable<BroadcastsTable>,
): Promise<{ broadcast: BroadcastRow; created: boolean }> {
  const inserted = await trx
    .insertInto("broadcasts")
    .values(row)
    .onConflict((oc) => oc.column("order_id").doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return { broadcast: inserted, created: true };
  return { broadcast: (await lockBroadcast(trx, row.order_id))!, created: false };
}

export function updateBroadcast(
  trx: DispatchTrx,
  orderId: string,
  set: Updateable<BroadcastsTable>,
): Promise<BroadcastRow> {
  return trx
    .updateTable("broadcasts")
    .set({ ...set, version: sql<string>`version + 1`, updated_at: new Date() })
    .where("order_id", "=", orderId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Claims due broadcasts (their next wave or their expiry), one order or the oldest `limit`:
 * the lease moves next_wave_at forward and a token marks the claimer, in one statement over
 * rows locked SKIP LOCKED. A claimer that dies leaves the lease to run out; then anyone
 * claims the same step again.
 */
export async function claimDueBroadcasts(
  db: DispatchDb,
  claim: { now: Date; leaseUntil: Date; token: string; orderId?: string; limit: number },
): Promise<BroadcastRow[]> {
  let due = db
    .selectFrom("broadcasts")
    .select("order_id")
    .where("status", "=", "open")
    .where("next_wave_at", "<=", claim.now)
    .orderBy("next_wave_at")
    .limit(claim.limit)
    .forUpdate()
    .skipLocked();
  if (claim.orderId) due = due.where("order_id", "=", claim.orderId);
  return db
    .updateTable("broadcasts")
    .set({ next_wave_at: claim.leaseUntil, claim_token: claim.token, updated_at: claim.now })
    .where("order_id", "in", due)
    .where("status", "=", "open")
    .where("next_wave_at", "<=", claim.now)
    .returningAll()
    .execute();
}

/**
 * Opens an order complete on arrival together with its first wave, in one statement: the
 * broadcast (its first wave done), the open booking, the wave's offers and their events. A
 * statement is atomic, so there is no transaction to begin and commit: the common path is one
 * round trip. A booking dispatch knows already (a redelivery, or a tombstone of a booking
 * cancelled first) fails on Constraint.bookingKey, an order it knows on Constraint.broadcastKey;
 * either way nothing is written.
 */
export async function openOrderWithWave(
  db: DispatchDb,
  rows: {
    broadcast: Insertable<BroadcastsTable>;
    booking: Insertable<BookingsTable>;
    offers: Insertable<OffersTable>[];
    outbox: Insertable<OutboxTable>[];
  },
): Promise<void> {
  let query = db
    .with("new_broadcast", (q) => q.insertInto("broadcasts").values(rows.broadcast).returning("order_id"))
    .with("new_booking", (q) => q.insertInto("bookings").values(rows.booking).returning("booking_id"));
  // The offers name the broadcast: Postgres checks that reference at the end of the statement.
  if (rows.offers.length > 0)
    query = query.with("new_offers", (q) =>
      q.insertInto("offers").values(rows.offers).returning("id"),
    ) as unknown as typeof query;
  if (rows.outbox.length > 0)
    query = query.with("new_events", (q) =>
      q.insertInto("outbox").values(rows.outbox).returning("id"),
    ) as unknown as typeof query;
  await query.selectFrom("new_booking").select("booking_id").execute();
}

/** Finishes a claimed wave: counts it and sets the next timer, only while the claim is still ours. */
export function completeWave(
  trx: DispatchTrx,
  orderId: string,
  token: string,
  nextAt: Date,
): Promise<BroadcastRow | undefined> {
  return trx
    .updateTable("broadcasts")
    .set({
      wave: sql<number>`wave + 1`,
      next_wave_at: nextAt,
      claim_token: null,
      version: sql<string>`version + 1`,
      updated_at: new Date(),
    })
    .where("order_id", "=", orderId)
    .where("claim_token", "=", token)
    .where("status", "=", "open")
    .returningAll()
    .executeTakeFirst();
}

/** Ends a claimed round without takers: expired, nothing open, only while the claim is ours. */
export function expireBroadcast(trx: DispatchTrx, orderId: string, token: string): Promise<BroadcastRow | undefined> {
  return trx
    .updateTable("broadcasts")
    .set({
      status: "expired",
      open_trucks: 0,
      next_wave_at: null,
      claim_token: null,
      version: sql<string>`version + 1`,
      updated_at: new Date(),
    })
    .where("order_id", "=", orderId)
    .where("claim_token", "=", token)
    .where("status", "=", "open")
    .returningAll()
    .executeTakeFirst();
}

/**
 * THE acceptance: takes `count` trucks of an open order in one conditional statement. Under
 * concurrency Postgres re-checks `open_trucks >= count` on the row as the previous taker left
 * it, so the trucks taken never exceed the trucks open. Closes the broadcast when none is left.
 */
export function takeTrucks(trx: DispatchTrx, orderId: string, count: number): Promise<BroadcastRow | undefined> {
  return trx
    .updateTable("broadcasts")
    .set({
      open_trucks: sql<number>`open_trucks - ${count}`,
      status: sql<BroadcastRow["status"]>`case when open_trucks = ${count} then 'filled' else 'open' end`,
      next_wave_at: sql<Date | null>`case when open_trucks = ${count} then null else next_wave_at end`,
      claim_token: sql<string | null>`case when open_trucks = ${count} then null else claim_token end`,
      version: sql<string>`version + 1`,
      updated_at: new Date(),
    })
    .where("order_id", "=", orderId)
    .where("status", "=", "open")
    .where("open_trucks", ">=", count)
    .returningAll()
    .executeTakeFirst();
}

// -------------------------------------------------------------------------------- bookings

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
  const open = trx
    .selectFrom("bookings")
    .select("booking_id")
    .where("order_id", "=", claim.orderId)
    .where("state", "=", "open")
    .orderBy("booking_id")
    .limit(claim.count)
    .forUpdate();
  return trx
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
    .where("booking_id", "in", open)
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

// ---------------------------------------------------------------------------------- offers

export function offeredTransporters(
  db: DispatchDb,
  orderId: string,
): Promise<{ transporter_id: string; status: OfferStatus }[]> {
  return db.selectFrom("offers").select(["transporter_id", "status"]).where("order_id", "=", orderId).execute();
}

/**
 * Makes offers: new rows, or offers withdrawn or expired in an earlier round opened again.
 * Declined and accepted offers, and offers already open, are left alone (never offered twice).
 */
export function upsertOffers(trx: DispatchTrx, rows: Insertable<OffersTable>[]): Promise<OfferRow[]> {
  if (rows.length === 0) return Promise.resolve([]);
  return trx
    .insertInto("offers")
    .values(rows)
    .onConflict((oc) =>
      oc
        .constraint("offers_order_transporter_key")
        .doUpdateSet((eb) => ({
          status: "open",
          round: eb.ref("excluded.round"),
          wave: eb.ref("excluded.wave"),
          accepted_count: 0,
          withdrawal_reason: null,
          transporter_online: eb.ref("excluded.transporter_online"),
          created_at: eb.ref("excluded.created_at"),
          updated_at: eb.ref("excluded.updated_at"),
        }))
        .where("offers.status", "in", ["withdrawn", "expired"]),
    )
    .returningAll()
    .execute();
}

export function openOffersOfOrder(db: DispatchDb | DispatchTrx, orderId: string): Promise<OfferRow[]> {
  return db.selectFrom("offers").selectAll().where("order_id", "=", orderId).where("status", "=", "open").execute();
}

/** Closes the order's open offers (withdrawn or expired) and returns them. */
export function closeOpenOffers(
  trx: DispatchTrx,
  orderId: string,
  status: "withdrawn" | "expired",
  reason: WithdrawalReason,
  now: Date,
): Promise<OfferRow[]> {
  return trx
    .updateTable("offers")
    .set({ status, withdrawal_reason: reason, updated_at: now })
    .where("order_id", "=", orderId)
    .where("status", "=", "open")
    .returningAll()
    .execute();
}

/** Answers an open offer of the transporter (accepted or declined); undefined when it is not open or not theirs. */
export function answerOffer(
  trx: DispatchTrx,
  answer: {
    offerId: string;
    transporterId: string;
    status: "accepted" | "declined";
    acceptedCount?: number;
    declineReason?: string;
    now: Date;
  },
): Promise<OfferRow | undefined> {
  return trx
    .updateTable("offers")
    .set({
      status: answer.status,
      ...(answer.acceptedCount !== undefined ? { accepted_count: answer.acceptedCount } : {}),
      ...(answer.declineReason !== undefined ? { decline_reason: answer.declineReason } : {}),
      updated_at: answer.now,
    })
    .where("id", "=", answer.offerId)
    .where("transporter_id", "=", answer.transporterId)
    .where("status", "=", "open")
    .returningAll()
    .executeTakeFirst();
}

export function findOffer(db: DispatchDb, offerId: string): Promise<OfferRow | undefined> {
  return db.selectFrom("offers").selectAll().where("id", "=", offerId).executeTakeFirst();
}

/** Offers with their broadcast's trip, for answers and streams. */
function offerViews(db: DispatchDb) {
  return db
    .selectFrom("offers as o")
    .innerJoin("broadcasts as b", "b.order_id", "o.order_id")
    .selectAll("o")
    .select([
      "b.vehicle_type",
      "b.pickup_lat",
      "b.pickup_lng",
      "b.drop_lat",
      "b.drop_lng",
      "b.pickup_city",
      "b.drop_city",
      "b.fare_paise",
      "b.distance_m",
      "b.open_trucks",
      "b.vehicle_count",
      "b.goods_type",
      "b.weight_kg",
      "b.scheduled_at",
      "b.expires_at",
      "b.version",
    ]);
}

export type OfferViewRow = Awaited<ReturnType<typeof listOffers>>[number];

/** One page of a transporter's offers in a status, newest first, after the cursor id. */
export function listOffers(
  db: DispatchDb,
  query: { transporterId: string; status: OfferStatus; afterId: string | undefined; limit: number },
) {
  let q = offerViews(db).where("o.transporter_id", "=", query.transporterId).where("o.status", "=", query.status);
  if (query.afterId) q = q.where("o.id", "<", query.afterId);
  return q.orderBy("o.id", "desc").limit(query.limit).execute();
}

export function findOfferViews(db: DispatchDb, offerIds: string[]) {
  if (offerIds.length === 0) return Promise.resolve([]);
  return offerViews(db).where("o.id", "in", offerIds).execute();
}
