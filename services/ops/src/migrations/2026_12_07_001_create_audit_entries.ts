// Frozen in time: never edit a migration that has shipped; add a new one.
import { sql, type Kysely } from "kysely";

/** The audit trail of the operations console: one row per intervention, written before it is made. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("audit_entries")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("actor_user_id", "uuid", (c) => c.notNull())
    .addColumn("actor_phone", "text", (c) => c.notNull())
    .addColumn("action", "text", (c) =>
      c
        .notNull()
        .check(sql`action in ('cancel_booking', 'reopen_booking', 'reassign_driver', 'block_user', 'unblock_user')`),
    )
    .addColumn("target_id", "text", (c) => c.notNull())
    .addColumn("reason", "text", (c) => c.notNull().check(sql`char_length(reason) between 1 and 500`))
    .addColumn("before", "jsonb")
    .addColumn("after", "jsonb")
    .addColumn("outcome", "text", (c) => c.notNull().check(sql`outcome in ('pending', 'succeeded', 'failed')`))
    .addColumn("error", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("idempotency_key", "text")
    .addColumn("request_hash", "text", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("completed_at", "timestamptz")
    .execute();
  // One live entry per operations user and retry key: a replay finds it instead of acting again.
  // A failed entry leaves the key free, so a retry after a refusal or an outage acts (and is recorded) anew.
  await db.schema
    .createIndex("audit_entries_actor_key")
    .on("audit_entries")
    .columns(["actor_user_id", "idempotency_key"])
    .unique()
    .where(sql<boolean>`idempotency_key is not null and outcome <> 'failed'`)
    .execute();
  // The trail of one booking or user, and of one operations user, newest first.
  await db.schema.createIndex("audit_entries_target").on("audit_entries").columns(["target_id", "id"]).execute();
  await db.schema.createIndex("audit_entries_actor").on("audit_entries").columns(["actor_user_id", "id"]).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("audit_entries").execute();
}
