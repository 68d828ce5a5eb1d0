// Frozen in time: never edit a migration that has shipped; add a new one.
import { createOutboxTableV1 } from "@weelo/outbox";
import { sql, type Kysely } from "kysely";

const STATUSES = sql`('pending', 'confirmed', 'assigned', 'driver_en_route', 'at_pickup', 'in_transit', 'at_dropoff', 'completed', 'cancelled')`;

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("orders")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("customer_id", "uuid", (c) => c.notNull())
    .addColumn("vehicle_type", "text", (c) => c.notNull())
    .addColumn("vehicle_count", "integer", (c) => c.notNull().check(sql`vehicle_count between 1 and 20`))
    .addColumn("total_fare_paise", "bigint", (c) => c.notNull().check(sql`total_fare_paise >= 0`))
    .addColumn("quote_id", "text", (c) => c.notNull())
    .addColumn("idempotency_key", "text")
    .addColumn("request_hash", "text", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  // Concurrent duplicates of one create: the second insert fails here and reads the winner.
  await db.schema
    .createIndex("orders_idempotency_key")
    .on("orders")
    .columns(["customer_id", "idempotency_key"])
    .unique()
    .where(sql.ref("idempotency_key"), "is not", null)
    .execute();

  await db.schema
    .createTable("bookings")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("order_id", "uuid", (c) => c.notNull().references("orders.id"))
    .addColumn("customer_id", "uuid", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull().check(sql`status in ${STATUSES}`))
    .addColumn("vehicle_type", "text", (c) => c.notNull())
    .addColumn("pickup", "jsonb", (c) => c.notNull())
    .addColumn("drop", "jsonb", (c) => c.notNull())
    .addColumn("goods_type", "text", (c) => c.notNull())
    .addColumn("weight_kg", "integer", (c) => c.notNull())
    .addColumn("notes", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("fare_paise", "bigint", (c) => c.notNull().check(sql`fare_paise >= 0`))
    .addColumn("distance_m", "integer", (c) => c.notNull())
    .addColumn("quote_id", "text", (c) => c.notNull())
    .addColumn("scheduled_at", "timestamptz")
    .addColumn("broadcast_at", "timestamptz", (c) => c.notNull())
    .addColumn("broadcasted_at", "timestamptz")
    .addColumn("transporter_id", "uuid")
    .addColumn("driver_id", "uuid")
    .addColumn("driver_user_id", "uuid")
    .addColumn("vehicle_id", "uuid")
    .addColumn("pickup_code", "text", (c) => c.notNull())
    .addColumn("delivery_code", "text", (c) => c.notNull())
    .addColumn("cancellation_fee_paise", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("cancellation_reason", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("sequence", "bigint", (c) => c.notNull().defaultTo(1))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    // Past CONFIRMED a booking has its transporter; past ASSIGNED (until cancelled) its driver.
    .addCheckConstraint(
      "bookings_pending_unclaimed",
      sql`status <> 'pending' or (transporter_id is null and driver_user_id is null)`,
    )
    .execute();
  // Each role's list, newest first (ids are UUIDv7, so id order is creation order).
  await db.schema.createIndex("bookings_customer_idx").on("bookings").columns(["customer_id", "id desc"]).execute();
  await db.schema
    .createIndex("bookings_transporter_idx")
    .on("bookings")
    .columns(["transporter_id", "id desc"])
    .where(sql.ref("transporter_id"), "is not", null)
    .execute();
  await db.schema
    .createIndex("bookings_driver_idx")
    .on("bookings")
    .columns(["driver_user_id", "id desc"])
    .where(sql.ref("driver_user_id"), "is not", null)
    .execute();
  await db.schema.createIndex("bookings_order_idx").on("bookings").column("order_id").execute();
  // The scheduler's queue: scheduled bookings not yet broadcast.
  await db.schema
    .createIndex("bookings_broadcast_due_idx")
    .on("bookings")
    .column("broadcast_at")
    .where(sql.ref("broadcasted_at"), "is", null)
    .execute();

  await db.schema
    .createTable("booking_status_history")
    .addColumn("booking_id", "uuid", (c) => c.notNull().references("bookings.id"))
    .addColumn("sequence", "bigint", (c) => c.notNull())
    .addColumn("from_status", "text")
    .addColumn("to_status", "text", (c) => c.notNull())
    .addColumn("actor_role", "text", (c) => c.notNull())
    .addColumn("actor_id", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("reason", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("lat", "double precision")
    .addColumn("lng", "double precision")
    .addColumn("reopened", "boolean", (c) => c.notNull().defaultTo(false))
    .addColumn("cancellation_fee_paise", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("occurred_at", "timestamptz", (c) => c.notNull())
    .addPrimaryKeyConstraint("booking_status_history_pkey", ["booking_id", "sequence"])
    .execute();

  await createOutboxTableV1(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("outbox").execute();
  await db.schema.dropTable("booking_status_history").execute();
  await db.schema.dropTable("bookings").execute();
  await db.schema.dropTable("orders").execute();
}
