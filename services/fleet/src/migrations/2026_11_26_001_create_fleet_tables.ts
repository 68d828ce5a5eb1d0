// Frozen in time: never edit a migration that has shipped; add a new one.
import { sql, type Kysely } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("vehicles")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("transporter_id", "uuid", (c) => c.notNull())
    .addColumn("registration_number", "text", (c) => c.notNull())
    .addColumn("vehicle_type", "text", (c) => c.notNull())
    .addColumn("capacity_kg", "integer", (c) => c.notNull().check(sql`capacity_kg > 0`))
    .addColumn("make_model", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("status", "text", (c) =>
      c.notNull().defaultTo("available").check(sql`status in ('available', 'on_trip', 'maintenance', 'inactive')`),
    )
    .addColumn("idempotency_key", "text")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("deleted_at", "timestamptz")
    .execute();
  // One registration number on the platform at a time; a deleted (sold) truck may be added again.
  await db.schema
    .createIndex("vehicles_registration_number_key")
    .on("vehicles")
    .column("registration_number")
    .unique()
    .where(sql.ref("deleted_at"), "is", null)
    .execute();
  await db.schema
    .createIndex("vehicles_idempotency_key")
    .on("vehicles")
    .columns(["transporter_id", "idempotency_key"])
    .unique()
    .where(sql.ref("idempotency_key"), "is not", null)
    .execute();
  // A transporter's list, newest first (ids are UUIDv7, so id order is creation order).
  await db.schema
    .createIndex("vehicles_transporter_id_idx")
    .on("vehicles")
    .columns(["transporter_id", "id desc"])
    .where(sql.ref("deleted_at"), "is", null)
    .execute();

  await db.schema
    .createTable("drivers")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("transporter_id", "uuid", (c) => c.notNull())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("phone", "text", (c) => c.notNull())
    .addColumn("licence_number", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) =>
      c.notNull().defaultTo("offline").check(sql`status in ('offline', 'online', 'on_trip')`),
    )
    .addColumn("vehicle_id", "uuid", (c) => c.references("vehicles.id"))
    .addColumn("event_seq", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("idempotency_key", "text")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("removed_at", "timestamptz")
    // Online and on a trip means with a vehicle; offline means without one.
    .addCheckConstraint("drivers_vehicle_matches_status", sql`(status = 'offline') = (vehicle_id is null)`)
    .addCheckConstraint("drivers_removed_are_offline", sql`removed_at is null or status = 'offline'`)
    .execute();
  // A phone belongs to one transporter at a time among drivers that are not removed.
  await db.schema
    .createIndex("drivers_active_phone_key")
    .on("drivers")
    .column("phone")
    .unique()
    .where(sql.ref("removed_at"), "is", null)
    .execute();
  // A vehicle is driven by at most one driver at a time: the claim of SetAvailability relies on it.
  await db.schema
    .createIndex("drivers_vehicle_id_key")
    .on("drivers")
    .column("vehicle_id")
    .unique()
    .where(sql.ref("vehicle_id"), "is not", null)
    .execute();
  await db.schema
    .createIndex("drivers_idempotency_key")
    .on("drivers")
    .columns(["transporter_id", "idempotency_key"])
    .unique()
    .where(sql.ref("idempotency_key"), "is not", null)
    .execute();
  await db.schema
    .createIndex("drivers_transporter_id_idx")
    .on("drivers")
    .columns(["transporter_id", "id desc"])
    .where(sql.ref("removed_at"), "is", null)
    .execute();

  await db.schema
    .createTable("driver_accounts")
    .addColumn("phone", "text", (c) => c.primaryKey())
    .addColumn("user_id", "uuid", (c) => c.notNull().unique())
    .addColumn("linked_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable("transporters")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("base_lat", "double precision")
    .addColumn("base_lng", "double precision")
    .addColumn("service_radius_km", "integer", (c) => c.notNull().check(sql`service_radius_km between 1 and 500`))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint("transporters_base_complete", sql`(base_lat is null) = (base_lng is null)`)
    .execute();

  await db.schema
    .createTable("outbox")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("position", "bigserial", (c) => c.notNull().unique())
    .addColumn("subject", "text", (c) => c.notNull())
    .addColumn("payload", "bytea", (c) => c.notNull())
    .addColumn("request_id", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("published_at", "timestamptz")
    .execute();
  await db.schema
    .createIndex("outbox_unpublished_idx")
    .on("outbox")
    .column("position")
    .where(sql.ref("published_at"), "is", null)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("outbox").execute();
  await db.schema.dropTable("transporters").execute();
  await db.schema.dropTable("driver_accounts").execute();
  await db.schema.dropTable("drivers").execute();
  await db.schema.dropTable("vehicles").execute();
}
