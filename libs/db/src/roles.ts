/**
 * Least privilege for data: each service logs in as a role of its own that may read and write
 * the tables of its own schema and nothing else. It cannot run DDL (no CREATE on any schema,
 * not the owner of its tables), cannot see another service's schema (no USAGE there), and may
 * only read its migration records (so it can check the schema is up to date). The migrate
 * one-shot, connected as the DDL-capable role that owns the schemas, calls this after each
 * schema's migrations, so tables added by a migration are granted in the same run.
 */
import pg from "pg";

export interface ServiceRole {
  /** The service's schema (owned by the role running this). */
  schema: string;
  /** The runtime role, e.g. weelo_booking; made (LOGIN) when missing. */
  role: string;
  /** Sets the role's password when given (compose); otherwise the password is left as it is. */
  password?: string;
}

/** Plain lowercase identifiers, as schema names are: no quoting surprises in DDL. */
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** kysely's migration tables: the runtime role reads them and never writes them. */
const MIGRATION_TABLES = ["kysely_migration", "kysely_migration_lock"];

/** Creates the service's runtime role if missing and gives it exactly its schema's data. Idempotent. */
export async function grantServiceRole(connectionString: string, grant: ServiceRole): Promise<void> {
  for (const name of [grant.schema, grant.role]) {
    if (!IDENTIFIER.test(name)) throw new Error(`invalid identifier "${name}": lowercase letters, digits and _`);
  }
  const client = new pg.Client({ connectionString, application_name: "weelo-migrate" });
  await client.connect();
  try {
    const { schema, role } = grant;
    await createRoleIfMissing(client, role);
    if (grant.password !== undefined) {
      await client.query(`alter role ${role} password ${client.escapeLiteral(grant.password)}`);
    }
    await client.query("begin");
    // For people at psql as the role; the services' queries name their schema themselves.
    await client.query(`alter role ${role} set search_path = ${schema}, public`);
    // Nobody but the owner (the migrate role) and the grants below reaches this schema.
    await client.query(`revoke all on schema ${schema} from public`);
    await client.query(`revoke create on schema ${schema} from ${role}`);
    await client.query(`grant usage on schema ${schema} to ${role}`);
    await client.query(`grant select, insert, update, delete on all tables in schema ${schema} to ${role}`);
    // serial/bigserial columns take their next value from a sequence.
    await client.query(`grant usage, select on all sequences in schema ${schema} to ${role}`);
    const { rows } = await client.query<{ name: string }>(
      "select tablename as name from pg_tables where schemaname = $1 and tablename = any($2)",
      [schema, MIGRATION_TABLES],
    );
    for (const { name } of rows) {
      await client.query(`revoke insert, update, delete, truncate on ${schema}.${name} from ${role}`);
    }
    await client.query("commit");
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
}

/** CREATE ROLE is not IF NOT EXISTS in Postgres, and two migrate runs may race: either way the role exists after. */
async function createRoleIfMissing(client: pg.Client, role: string): Promise<void> {
  const exists = await client.query("select 1 from pg_roles where rolname = $1", [role]);
  if (exists.rowCount) return;
  try {
    // No CREATEDB/CREATEROLE, not a superuser (the defaults), and no inherited memberships.
    await client.query(`create role ${role} login noinherit`);
  } catch (error) {
    const code = (error as { code?: string }).code;
    // 42710 duplicate_object; 23505 when the catalogue's unique index catches the race first.
    if (code !== "42710" && code !== "23505") throw error;
  }
}
