// Frozen in time: never edit a migration that has shipped; add a new one.
import { createOutboxTableV1 } from "@weelo/outbox";
import { sql, type Kysely } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  // One row per booking tracking has heard of (from booking's events): who may watch it, its
  // stops, whether a driver is on it now, and which one-off events it already raised.
  await db.schema
    .createTable("trips")
    .addColumn("booking_id", "uuid", (c) => c.primaryKey())
    .addColumn("customer_id", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("transporter_id", "text")
    .addColumn("driver_id", "text")
    .addColumn("pickup_lat", "double precision")
    .addColumn("pickup_lng", "double precision")
    .addColumn("drop_lat", "double precision")
    .addColumn("drop_lng", "double precision")
    .addColumn("status", "text", (c) => c.notNull().defaultTo("pending"))
    .addColumn("active", "boolean", (c) => c.notNull().defaultTo(false))
    .addColumn("active_since", "timestamptz")
    // Sequence of the last booking event applied: an older (redelivered, overtaken) one is ignored.
    .addColumn("booking_sequence", "bigint", (c) => c.notNull().defaultTo(0))
    // Bumped by every change of the row: replicas keep the newest version in memory.
    .addColumn("version", "bigint", (c) => c.notNull().defaultTo(1))
    // Envelope sequence of tracking's own events about this booking.
    .addColumn("event_sequence", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("pickup_arriving_at", "timestamptz")
    .addColumn("pickup_arrived_at", "timestamptz")
    .addColumn("drop_arriving_at", "timestamptz")
    .addColumn("drop_arrived_at", "timestamptz")
    .addColumn("dark_at", "timestamptz")
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex("trips_active_idx")
    .on("trips")
    .column("driver_id")
    .where(sql.ref("active"), "=", true)
    .execute();
  await createOutboxTableV1(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("outbox").execute();
  await db.schema.dropTable("trips").execute();
}
