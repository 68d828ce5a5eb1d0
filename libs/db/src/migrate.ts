/**
 * Migrations run at start with kysely's Migrator. Its Postgres adapter holds an advisory lock
 * for the whole run (one transaction), so replicas starting together apply each migration once:
 * the others wait, then find nothing pending. The migration tables live in the service's schema.
 */
import {
  Migrator,
  sql,
  type DatabaseIntrospector,
  type DatabaseMetadata,
  type Kysely,
  type Migration,
  type SchemaMetadata,
  type TableMetadata,
} from "kysely";
import type { Logger } from "@weelo/log";

/** A service's migrations by name, e.g. "2026_11_26_001_create_users"; names sort in run order. */
export type Migrations = Record<string, Migration>;

/** A migration (or the migration machinery) failed; the service must not start. */
export class MigrationError extends Error {
  constructor(
    readonly schema: string,
    /** The failing migration, or undefined when the run failed before any migration. */
    readonly migration: string | undefined,
    options: { cause: unknown },
  ) {
    const reason = options.cause instanceof Error ? options.cause.message : String(options.cause);
    super(
      migration
        ? `migration "${migration}" of schema "${schema}" failed: ${reason}`
        : `migrations of schema "${schema}" could not run: ${reason}`,
      options,
    );
    this.name = "MigrationError";
  }
}

export interface MigrateOptions {
  schema: string;
  migrations: Migrations;
  logger: Logger;
}

/** Applies every pending migration in name order; throws MigrationError on the first failure. */
// biome-ignore lint/suspicious/noExplicitAny: schema-agnostic Kysely (any service's tables), Kysely's own idiom for migrations
export async function migrateToLatest(db: Kysely<any>, options: MigrateOptions): Promise<void> {
  const migrator = new Migrator({
    // Migrations are frozen in time and typed Kysely<any>, not the service's current tables.
    db: withSchemaScopedIntrospection(db, options.schema),
    provider: { getMigrations: async () => options.migrations },
    migrationTableSchema: options.schema,
  });
  const { error, results = [] } = await migrator.migrateToLatest();
  for (const result of results) {
    if (result.status === "Success") options.logger.info({ migration: result.migrationName }, "migration applied");
  }
  if (error !== undefined) {
    const failed = results.find((result) => result.status === "Error")?.migrationName;
    throw new MigrationError(options.schema, failed, { cause: error });
  }
}

/**
 * The Migrator asks "does my table exist?" through kysely's introspector, which by default
 * reads the columns of EVERY table of EVERY schema on the server (pg_get_serial_sequence on
 * each): slow on a shared server, and failing with "relation does not exist" when another
 * service or test drops a schema at that moment. Its questions are about one schema only, so
 * this answers them from that schema alone (table names; the Migrator needs no columns).
 */
// biome-ignore lint/suspicious/noExplicitAny: schema-agnostic Kysely (any service's tables), Kysely's own idiom for migrations
function withSchemaScopedIntrospection(db: Kysely<any>, schema: string): Kysely<any> {
  const introspection: DatabaseIntrospector = {
    async getSchemas(): Promise<SchemaMetadata[]> {
      const rows = await sql<{
        name: string;
      }>`select nspname as name from pg_catalog.pg_namespace where nspname = ${schema}`.execute(db);
      return rows.rows;
    },
    async getTables(): Promise<TableMetadata[]> {
      const rows = await sql<{ name: string }>`
        select c.relname as name from pg_catalog.pg_class c
        join pg_catalog.pg_namespace ns on ns.oid = c.relnamespace
        where ns.nspname = ${schema} and c.relkind in ('r', 'p', 'v')`.execute(db);
      return rows.rows.map(({ name }) => ({ name, schema, isView: false, columns: [] }));
    },
    async getMetadata(): Promise<DatabaseMetadata> {
      return { tables: await this.getTables() };
    },
  };
  // A view of the same instance (same pool, same plugins) whose `introspection` is the scoped one.
  // Methods are bound to the real instance: kysely keeps its state in private (#) fields.
  return new Proxy(db, {
    get: (target, property) => {
      if (property === "introspection") return introspection;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
