// Frozen in time: never edit a migration that has shipped; add a new one.
// Operations search every customer's bookings (BookingOpsService.SearchAllBookings: newest first,
// keyset pages on the UUIDv7 id) by status, pickup city (without regard to case) and creation time
// (the customer filter has bookings_customer_idx already), and count the funnel per hour from the
// creation times of orders and bookings and from the history's times. An index per filter keeps
// each a range scan; actor_role has no CHECK, so the new ACTOR_ROLE_OPS ("ops") needs none.
import { sql, type Kysely } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex("bookings_status_idx").on("bookings").columns(["status", "id desc"]).execute();
  await db.schema
    .createIndex("bookings_pickup_city_idx")
    .on("bookings")
    .expression(sql`lower(pickup->>'city'), id desc`)
    .execute();
  await db.schema.createIndex("bookings_created_at_idx").on("bookings").column("created_at").execute();
  await db.schema.createIndex("orders_created_at_idx").on("orders").column("created_at").execute();
  await db.schema
    .createIndex("booking_status_history_occurred_at_idx")
    .on("booking_status_history")
    .column("occurred_at")
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const index of [
    "booking_status_history_occurred_at_idx",
    "orders_created_at_idx",
    "bookings_created_at_idx",
    "bookings_pickup_city_idx",
    "bookings_status_idx",
  ])
    await db.schema.dropIndex(index).execute();
}
