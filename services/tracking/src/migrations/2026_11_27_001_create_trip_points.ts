// Frozen in time: never edit a migration that has shipped; add a new one.
import type { Kysely } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("trip_points")
    .addColumn("booking_id", "uuid", (c) => c.notNull())
    .addColumn("driver_id", "text", (c) => c.notNull())
    .addColumn("seq", "bigint", (c) => c.notNull())
    .addColumn("recorded_at", "timestamptz", (c) => c.notNull())
    .addColumn("lat", "double precision", (c) => c.notNull())
    .addColumn("lng", "double precision", (c) => c.notNull())
    .addColumn("accuracy_m", "real", (c) => c.notNull())
    .addColumn("speed_mps", "real", (c) => c.notNull())
    .addColumn("heading", "real", (c) => c.notNull())
    // A re-sent point (same booking, driver, seq) is dropped by ON CONFLICT DO NOTHING.
    .addPrimaryKeyConstraint("trip_points_pkey", ["booking_id", "driver_id", "seq"])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("trip_points").execute();
}
