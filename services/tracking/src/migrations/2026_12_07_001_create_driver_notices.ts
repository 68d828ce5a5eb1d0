// Frozen in time: never edit a migration that has shipped; add a new one.
import { sql, type Kysely } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  // Per driver, the last trip taken away from them (cancelled, reopened, reassigned to another
  // driver): repeated when their stream opens, so an app offline at that moment still hears it.
  await db.schema
    .createTable("driver_notices")
    .addColumn("driver_id", "text", (c) => c.primaryKey())
    .addColumn("booking_id", "uuid", (c) => c.notNull())
    .addColumn("kind", "text", (c) => c.notNull().check(sql`kind in ('cancelled', 'reopened')`))
    .addColumn("reason", "text", (c) => c.notNull().defaultTo(""))
    // The booking event's id: the command's id, so an app that heard it live ignores the repeat.
    .addColumn("command_id", "text", (c) => c.notNull())
    .addColumn("issued_at", "timestamptz", (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("driver_notices").execute();
}
