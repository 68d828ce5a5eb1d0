// Frozen in time: never edit a migration that has shipped; add a new one.
import { sql, type Kysely } from "kysely";

/**
 * One name for one concept: the call dispatch owes booking for a row (confirm, assign, reopen,
 * expire) was stored as `sync`; it is the booking call, as in the code and the metrics. A rename
 * keeps the rows, the check on the kinds and the poller's partial index.
 */
const RENAMES = [
  ["sync", "booking_call"],
  ["sync_due_at", "booking_call_due_at"],
  ["sync_attempts", "booking_call_attempts"],
] as const;

export async function up(db: Kysely<any>): Promise<void> {
  for (const [from, to] of RENAMES) await db.schema.alterTable("bookings").renameColumn(from, to).execute();
  await sql`alter table bookings rename constraint bookings_sync_check to bookings_booking_call_check`.execute(db);
  await sql`alter index bookings_sync_due_idx rename to bookings_booking_call_due_idx`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter index bookings_booking_call_due_idx rename to bookings_sync_due_idx`.execute(db);
  await sql`alter table bookings rename constraint bookings_booking_call_check to bookings_sync_check`.execute(db);
  for (const [from, to] of RENAMES) await db.schema.alterTable("bookings").renameColumn(to, from).execute();
}
