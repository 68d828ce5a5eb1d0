// Frozen in time: never edit a migration that has shipped; add a new one.
import { sql, type Kysely } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("notifications")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("user_id", "uuid", (c) => c.notNull())
    .addColumn("event_id", "text", (c) => c.notNull())
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("title", "text", (c) => c.notNull())
    .addColumn("body", "text", (c) => c.notNull())
    .addColumn("booking_id", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("data", "jsonb", (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("read_at", "timestamptz")
    .execute();
  // A redelivered event finds its inbox row instead of adding a second one.
  await db.schema
    .createIndex("notifications_event_user")
    .on("notifications")
    .columns(["event_id", "user_id"])
    .unique()
    .execute();
  // The inbox, newest first, and its unread count.
  await db.schema.createIndex("notifications_user_id").on("notifications").columns(["user_id", "id"]).execute();
  await db.schema
    .createIndex("notifications_user_unread")
    .on("notifications")
    .columns(["user_id", "id"])
    .where(sql.ref("read_at"), "is", null)
    .execute();

  await db.schema
    .createTable("deliveries")
    .addColumn("event_id", "text", (c) => c.notNull())
    .addColumn("recipient_id", "uuid", (c) => c.notNull())
    .addColumn("channel", "text", (c) => c.notNull().check(sql`channel in ('push', 'sms')`))
    .addColumn("status", "text", (c) => c.notNull().check(sql`status in ('sending', 'sent', 'skipped', 'failed')`))
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(1))
    .addColumn("detail", "text")
    .addColumn("claimed_at", "timestamptz", (c) => c.notNull())
    .addColumn("finished_at", "timestamptz")
    .addPrimaryKeyConstraint("deliveries_pk", ["event_id", "recipient_id", "channel"])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("deliveries").execute();
  await db.schema.dropTable("notifications").execute();
}
