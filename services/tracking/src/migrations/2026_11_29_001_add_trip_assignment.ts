// Frozen in time: never edit a migration that has shipped; add a new one.
import type { Kysely } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  // What the driver's assignment command says: the vehicle, and the stops by name (booking.created's cities).
  await db.schema.alterTable("trips").addColumn("vehicle_id", "text").execute();
  await db.schema
    .alterTable("trips")
    .addColumn("pickup_place", "text", (c) => c.notNull().defaultTo(""))
    .execute();
  await db.schema
    .alterTable("trips")
    .addColumn("drop_place", "text", (c) => c.notNull().defaultTo(""))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("trips").dropColumn("drop_place").execute();
  await db.schema.alterTable("trips").dropColumn("pickup_place").execute();
  await db.schema.alterTable("trips").dropColumn("vehicle_id").execute();
}
