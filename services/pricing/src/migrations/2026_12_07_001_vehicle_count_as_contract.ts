// Frozen in time: never edit a migration that has shipped; add a new one.
// quotes.vehicle_count allowed 1 to 100 while the contract (weelo.common.v1.vehicle_count, on
// GetQuoteRequest) allows 1 to 20: the CHECK now says what the contract says. The database keeps
// its own guard although requests are validated before any handler runs: it is the last line
// for every writer (a handler bug, a script, a later migration), and a row that broke the
// contract would poison every read of it. Quotes have only ever been made with 1 to 20 trucks
// (the service refused more), so no stored row breaks the narrower CHECK.
import { sql, type Kysely } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("quotes").dropConstraint("quotes_vehicle_count_check").execute();
  await db.schema
    .alterTable("quotes")
    .addCheckConstraint("quotes_vehicle_count_check", sql`vehicle_count between 1 and 20`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("quotes").dropConstraint("quotes_vehicle_count_check").execute();
  await db.schema
    .alterTable("quotes")
    .addCheckConstraint("quotes_vehicle_count_check", sql`vehicle_count between 1 and 100`)
    .execute();
}
