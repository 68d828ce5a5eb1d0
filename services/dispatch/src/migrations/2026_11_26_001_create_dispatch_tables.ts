// Frozen in time: never edit a migration that has shipped; add a new one.
import { createOutboxTableV1 } from "@weelo/outbox";
import { sql, type Kysely } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("broadcasts")
    .addColumn("order_id", "uuid", (c) => c.primaryKey())
    .addColumn("customer_id", "uuid", (c) => c.notNull())
    .addColumn("vehicle_type", "text", (c) => c.notNull())
    .addColumn("pickup_lat", "double precision", (c) => c.notNull())
    .addColumn("pickup_lng", "double precision", (c) => c.notNull())
    .addColumn("drop_lat", "double precision", (c) => c.notNull())
    .addColumn("drop_lng", "double precision", (c) => c.notNull())
    .addColumn("pickup_city", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("drop_city", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("fare_paise", "bigint", (c) => c.notNull())
    .addColumn("distance_m", "integer", (c) => c.notNull())
    .addColumn("goods_type", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("weight_kg", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("scheduled_at", "timestamptz")
    .addColumn("vehicle_count", "integer", (c) => c.notNull().check(sql`vehicle_count >= 1`))
    .addColumn("known_bookings", "integer", (c) => c.notNull())
    // Never negative: the acceptance's conditional update relies on it.
    .addColumn("open_trucks", "integer", (c) => c.notNull().check(sql`open_trucks >= 0`))
    .addColumn("status", "text", (c) => c.notNull().check(sql`status in ('open', 'filled', 'expired', 'cancelled')`))
    .addColumn("round", "integer", (c) => c.notNull().defaultTo(1))
    .addColumn("wave", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("next_wave_at", "timestamptz")
    .addColumn("claim_token", "uuid")
    .addColumn("expires_at", "timestamptz", (c) => c.notNull())
    .addColumn("version", "bigint", (c) => c.notNull().defaultTo(1))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  // The timer poller's queue: open broadcasts by when their next wave is due.
  await db.schema
    .createIndex("broadcasts_due_idx")
    .on("broadcasts")
    .column("next_wave_at")
    .where(sql.ref("status"), "=", "open")
    .execute();

  await db.schema
    .createTable("bookings")
    .addColumn("booking_id", "uuid", (c) => c.primaryKey())
    .addColumn("order_id", "uuid", (c) => c.notNull())
    .addColumn("state", "text", (c) =>
      c
        .notNull()
        .check(
          sql`state in ('open', 'accepted', 'assigned', 'reopening', 'expiring', 'expired', 'cancelled', 'closed')`,
        ),
    )
    .addColumn("transporter_id", "uuid")
    .addColumn("offer_id", "uuid")
    .addColumn("accepted_at", "timestamptz")
    .addColumn("assign_by", "timestamptz")
    .addColumn("driver_id", "uuid")
    .addColumn("driver_user_id", "uuid")
    .addColumn("vehicle_id", "uuid")
    .addColumn("assigned_at", "timestamptz")
    .addColumn("sync", "text", (c) => c.check(sql`sync in ('confirm', 'assign', 'reopen', 'expire')`))
    .addColumn("sync_due_at", "timestamptz")
    .addColumn("sync_attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("booking_seq", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint(
      "bookings_taken_has_transporter",
      sql`state not in ('accepted', 'assigned') or transporter_id is not null`,
    )
    .addCheckConstraint(
      "bookings_assigned_has_driver",
      sql`state <> 'assigned' or (driver_id is not null and vehicle_id is not null)`,
    )
    .execute();
  await db.schema.createIndex("bookings_order_idx").on("bookings").columns(["order_id", "state"]).execute();
  // A driver and a vehicle are on one active assignment at a time: the loser of a race fails here.
  await db.schema
    .createIndex("bookings_active_driver_key")
    .on("bookings")
    .column("driver_id")
    .unique()
    .where(sql.ref("state"), "=", "assigned")
    .execute();
  await db.schema
    .createIndex("bookings_active_vehicle_key")
    .on("bookings")
    .column("vehicle_id")
    .unique()
    .where(sql.ref("state"), "=", "assigned")
    .execute();
  // The poller's queues: owed booking calls, and acceptances waiting for a driver.
  await db.schema
    .createIndex("bookings_sync_due_idx")
    .on("bookings")
    .column("sync_due_at")
    .where(sql.ref("sync"), "is not", null)
    .execute();
  await db.schema
    .createIndex("bookings_assign_by_idx")
    .on("bookings")
    .column("assign_by")
    .where(sql.ref("state"), "=", "accepted")
    .execute();

  await db.schema
    .createTable("offers")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("order_id", "uuid", (c) => c.notNull().references("broadcasts.order_id"))
    .addColumn("transporter_id", "uuid", (c) => c.notNull())
    .addColumn("status", "text", (c) =>
      c.notNull().check(sql`status in ('open', 'accepted', 'declined', 'withdrawn', 'expired')`),
    )
    .addColumn("round", "integer", (c) => c.notNull())
    .addColumn("wave", "integer", (c) => c.notNull())
    .addColumn("accepted_count", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("withdrawal_reason", "text")
    .addColumn("decline_reason", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("transporter_online", "boolean", (c) => c.notNull().defaultTo(false))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    // One offer per order and transporter: a wave run twice offers nobody twice, and a decline is final.
    .addUniqueConstraint("offers_order_transporter_key", ["order_id", "transporter_id"])
    .execute();
  await db.schema
    .createIndex("offers_transporter_idx")
    .on("offers")
    .columns(["transporter_id", "status", "id desc"])
    .execute();

  await createOutboxTableV1(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("outbox").execute();
  await db.schema.dropTable("offers").execute();
  await db.schema.dropTable("bookings").execute();
  await db.schema.dropTable("broadcasts").execute();
}
