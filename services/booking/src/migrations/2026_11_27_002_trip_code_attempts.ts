// Frozen in time: never edit a migration that has shipped; add a new one.
import { sql, type Kysely } from "kysely";

/**
 * Wrong pickup/delivery codes are counted, so a 4-digit code cannot be guessed by trying all
 * 10,000: after BOOKING_CODE_MAX_ATTEMPTS wrong tries the booking's code entry is locked for a
 * while. One counter serves both codes: the delivery code is only asked after the pickup code
 * was accepted, which resets it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("bookings")
    .addColumn("code_failures", "integer", (c) => c.notNull().defaultTo(0).check(sql`code_failures >= 0`))
    .execute();
  await db.schema.alterTable("bookings").addColumn("code_locked_until", "timestamptz").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("bookings").dropColumn("code_locked_until").execute();
  await db.schema.alterTable("bookings").dropColumn("code_failures").execute();
}
