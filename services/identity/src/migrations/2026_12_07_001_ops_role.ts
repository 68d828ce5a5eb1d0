// Frozen in time: never edit a migration that has shipped; add a new one.
// Accounts of role ops (the operations team, issue 17): the role CHECK admits them. Who may log
// in with it is configuration (OPS_PHONES), not data.
import { sql, type Kysely } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("users").dropConstraint("users_role_check").execute();
  await db.schema
    .alterTable("users")
    .addCheckConstraint("users_role_check", sql`role in ('customer', 'transporter', 'driver', 'ops')`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.deleteFrom("users").where("role", "=", "ops").execute();
  await db.schema.alterTable("users").dropConstraint("users_role_check").execute();
  await db.schema
    .alterTable("users")
    .addCheckConstraint("users_role_check", sql`role in ('customer', 'transporter', 'driver')`)
    .execute();
}
