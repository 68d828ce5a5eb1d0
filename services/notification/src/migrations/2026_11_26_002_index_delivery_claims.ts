// Frozen in time: never edit a migration that has shipped; add a new one.
import type { Kysely } from "kysely";

/** Pruning finds old delivery claims by time. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex("deliveries_claimed_at").on("deliveries").column("claimed_at").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex("deliveries_claimed_at").execute();
}
