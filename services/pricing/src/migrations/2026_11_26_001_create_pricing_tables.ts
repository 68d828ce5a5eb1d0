// Frozen in time: never edit a migration that has shipped; add a new one.
import { sql, type Kysely } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("vehicle_types")
    .addColumn("id", "text", (c) => c.primaryKey().check(sql`id ~ '^[a-z0-9_]{2,40}$'`))
    .addColumn("display_name", "text", (c) => c.notNull())
    .addColumn("description", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("capacity_kg", "integer", (c) => c.notNull().check(sql`capacity_kg > 0`))
    .addColumn("body_type", "text", (c) => c.notNull().check(sql`body_type in ('open', 'closed', 'flatbed')`))
    .addColumn("body_length_mm", "integer", (c) => c.notNull().check(sql`body_length_mm > 0`))
    .addColumn("body_width_mm", "integer", (c) => c.notNull().check(sql`body_width_mm > 0`))
    .addColumn("body_height_mm", "integer", (c) => c.notNull().check(sql`body_height_mm >= 0`))
    .addColumn("base_fare_paise", "bigint", (c) => c.notNull().check(sql`base_fare_paise >= 0`))
    .addColumn("per_km_paise", "bigint", (c) => c.notNull().check(sql`per_km_paise >= 0`))
    .addColumn("min_billable_km", "integer", (c) => c.notNull().check(sql`min_billable_km >= 0`))
    .addColumn("free_loading_minutes", "integer", (c) => c.notNull().check(sql`free_loading_minutes >= 0`))
    .addColumn("waiting_charge_per_minute_paise", "bigint", (c) =>
      c.notNull().check(sql`waiting_charge_per_minute_paise >= 0`),
    )
    .addColumn("sort_order", "integer", (c) => c.notNull())
    .addColumn("active", "boolean", (c) => c.notNull().defaultTo(true))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable("quotes")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("customer_id", "uuid", (c) => c.notNull())
    .addColumn("vehicle_type", "text", (c) => c.notNull())
    .addColumn("vehicle_count", "integer", (c) => c.notNull().check(sql`vehicle_count between 1 and 100`))
    .addColumn("pickup_lat", "double precision", (c) => c.notNull())
    .addColumn("pickup_lng", "double precision", (c) => c.notNull())
    .addColumn("drop_lat", "double precision", (c) => c.notNull())
    .addColumn("drop_lng", "double precision", (c) => c.notNull())
    .addColumn("scheduled_at", "timestamptz")
    .addColumn("distance_m", "integer", (c) => c.notNull())
    .addColumn("duration_s", "integer", (c) => c.notNull())
    .addColumn("distance_source", "text", (c) =>
      c.notNull().check(sql`distance_source in ('road_routing', 'great_circle_estimate')`),
    )
    .addColumn("base_fare_paise", "bigint", (c) => c.notNull())
    .addColumn("billable_distance_m", "integer", (c) => c.notNull())
    .addColumn("per_km_paise", "bigint", (c) => c.notNull())
    .addColumn("distance_charge_paise", "bigint", (c) => c.notNull())
    .addColumn("night", "boolean", (c) => c.notNull())
    .addColumn("night_charge_bps", "integer", (c) => c.notNull())
    .addColumn("night_charge_paise", "bigint", (c) => c.notNull())
    .addColumn("surge_hundredths", "integer", (c) => c.notNull().check(sql`surge_hundredths >= 100`))
    .addColumn("surge_charge_paise", "bigint", (c) => c.notNull())
    .addColumn("subtotal_paise", "bigint", (c) => c.notNull())
    .addColumn("gst_rate_bps", "integer", (c) => c.notNull())
    .addColumn("gst_paise", "bigint", (c) => c.notNull())
    .addColumn("total_per_vehicle_paise", "bigint", (c) => c.notNull())
    .addColumn("order_total_paise", "bigint", (c) => c.notNull())
    .addColumn("currency", "text", (c) => c.notNull().defaultTo("INR"))
    .addColumn("free_loading_minutes", "integer", (c) => c.notNull())
    .addColumn("waiting_charge_per_minute_paise", "bigint", (c) => c.notNull())
    .addColumn("token", "text", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("expires_at", "timestamptz", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("quotes_customer_id_idx").on("quotes").columns(["customer_id", "created_at"]).execute();
  await db.schema.createIndex("quotes_expires_at_idx").on("quotes").column("expires_at").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("quotes").execute();
  await db.schema.dropTable("vehicle_types").execute();
}
