// Frozen in time: never edit a migration that has shipped; add a new one.
import { sql, type Kysely } from "kysely";

/** Which booking holds which driver and vehicle ON_TRIP, and the last booking event applied. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("trip_holds")
    .addColumn("booking_id", "uuid", (c) => c.primaryKey())
    .addColumn("booking_seq", "bigint", (c) => c.notNull())
    .addColumn("active", "boolean", (c) => c.notNull())
    .addColumn("driver_id", "uuid")
    .addColumn("vehicle_id", "uuid")
    .addColumn("driver_was_online", "boolean", (c) => c.notNull().defaultTo(false))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex("trip_holds_active_driver_idx")
    .on("trip_holds")
    .column("driver_id")
    .where(sql.ref("active"), "=", true)
    .execute();
  await db.schema
    .createIndex("trip_holds_active_vehicle_idx")
    .on("trip_holds")
    .column("vehicle_id")
    .where(sql.ref("active"), "=", true)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("trip_holds").execute();
}
