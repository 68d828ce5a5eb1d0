// Frozen in time: never edit a migration that has shipped; add a new one.
// A quote books exactly one order: booking redeems it (RedeemQuote) under the order's key, and a
// second order under another key is refused. Both columns are set together, once.
import { sql, type Kysely } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("quotes")
    .addColumn("redemption_key", "text")
    .addColumn("redeemed_at", "timestamptz")
    .execute();
  await db.schema
    .alterTable("quotes")
    .addCheckConstraint("quotes_redemption_check", sql`(redemption_key is null) = (redeemed_at is null)`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("quotes").dropConstraint("quotes_redemption_check").execute();
  await db.schema.alterTable("quotes").dropColumn("redeemed_at").dropColumn("redemption_key").execute();
}
