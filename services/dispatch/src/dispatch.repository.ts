/**
 * kysely queries of the dispatch schema: plain functions taking the db (or a transaction).
 * Claims are single conditional statements (`where … returning`), queues are read with
 * `FOR UPDATE SKIP LOCKED`, so replicas never take the same wave, call or truck twice.
 *
 * This file holds the broadcasts' queries; bookings.repository.ts the bookings' (claims, booking
 * calls, deadlines), offers.repository.ts the offers'. Use cases import them all from here.
 */
import { sql, type Insertable, type Kysely, type Transaction, type Updateable } from "kysely";
import type { OutboxTable } from "@weelo/outbox";
import type { BookingsTable, BroadcastRow, BroadcastsTable, DispatchDatabase, OffersTable } from "./dispatch.table.js";

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

export * from "./bookings.repository.js";
export * from "./offers.repository.js";
