// Frozen in time: never edit a migration that has shipped; add a new one.
import type { Kysely } from "kysely";

/** Accounts can be blocked by operations staff: when, and why (for the audit trail). */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("users")
    .addColumn("blocked_at", "timestamptz")
    .addColumn("blocked_reason", "text")
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("users").dropColumn("blocked_reason").dropColumn("blocked_at").execute();
}
