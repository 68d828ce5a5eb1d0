// Frozen in time: never edit a migration that has shipped; add a new one.
// bookings.weight_kg had no CHECK; the contract (CreateBookingRequest.weight_kg) allows 1 to
// 100000 kg, and now the database says the same, as orders.vehicle_count already agreed with
// weelo.common.v1.vehicle_count (1 to 20). The database keeps its own guard although requests
// are validated before any handler runs: it is the last line for every writer (a handler bug, a
// script, a later migration). Bookings have only ever been made with 1 to 100000 kg (the
// service refused the rest), so no stored row breaks the CHECK.
import { sql, type Kysely } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("bookings")
    .addCheckConstraint("bookings_weight_kg_check", sql`weight_kg between 1 and 100000`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("bookings").dropConstraint("bookings_weight_kg_check").execute();
}
