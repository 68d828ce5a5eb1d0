// Frozen in time: never edit a migration that has shipped; add a new one.
// Operations steer dispatch (DispatchOpsService). A reopen or reassignment by operations is a
// booking call dispatch owes booking like the others, retried by the poller until booking answers,
// so the row keeps what that call needs: the operations user and the reason, and for a
// reassignment (a new booking call kind) the driver and vehicle released, to answer a retry and to
// put them back if booking refuses. The console also asks which transporters hold open offers
// (partial index) and counts offers per hour (indexes on the offer's times).
import { sql, type Kysely } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("bookings")
    .addColumn("booking_call_ops_user_id", "uuid")
    .addColumn("booking_call_reason", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("previous_driver_id", "uuid")
    .addColumn("previous_driver_user_id", "uuid")
    .addColumn("previous_vehicle_id", "uuid")
    .execute();
  await sql`alter table bookings drop constraint bookings_booking_call_check`.execute(db);
  await db.schema
    .alterTable("bookings")
    .addCheckConstraint(
      "bookings_booking_call_check",
      sql`booking_call in ('confirm', 'assign', 'reopen', 'expire', 'reassign')`,
    )
    .execute();
  await db.schema
    .createIndex("offers_open_transporter_idx")
    .on("offers")
    .column("transporter_id")
    .where(sql.ref("status"), "=", "open")
    .execute();
  await db.schema.createIndex("offers_created_at_idx").on("offers").column("created_at").execute();
  await db.schema.createIndex("offers_updated_at_idx").on("offers").column("updated_at").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const index of ["offers_updated_at_idx", "offers_created_at_idx", "offers_open_transporter_idx"])
    await db.schema.dropIndex(index).execute();
  await sql`alter table bookings drop constraint bookings_booking_call_check`.execute(db);
  await db.schema
    .alterTable("bookings")
    .addCheckConstraint("bookings_booking_call_check", sql`booking_call in ('confirm', 'assign', 'reopen', 'expire')`)
    .execute();
  for (const column of [
    "previous_vehicle_id",
    "previous_driver_user_id",
    "previous_driver_id",
    "booking_call_reason",
    "booking_call_ops_user_id",
  ])
    await db.schema.alterTable("bookings").dropColumn(column).execute();
}
