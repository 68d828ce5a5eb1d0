/**
 * Migrations run with kysely's Migrator, at start (development) or from the migrate one-shot
 * (production), all pending ones in one transaction. That transaction first takes a
 * transaction-level advisory lock of the schema (pg_advisory_xact_lock), so replicas starting
 * together apply each migration once (the others wait, then find nothing pending), and puts
 * the schema first on its search_path (SET LOCAL), so a migration's raw SQL finds its tables.
 * Both end with the transaction: nothing is left on the connection, which a transaction-pooling
 * PgBouncer may give to anyone next. (kysely's own lock is a session-level pg_advisory_lock
 * taken outside the transaction: through such a pooler its unlock can reach another server
 * connection, leaving the lock held and every later migration of the server waiting an hour.)
 * The migration tables live in the service's schema.
 */
import {
  Migrator,
  PostgresAdapter,
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
    db: migratorView(db, options.schema),
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
 * Checks, without DDL, that every migration this code knows has been applied (the service's
 * runtime role may only read the migration table). Throws MigrationError naming the first
 * pending one: the code is newer than its schema, so the migrate one-shot has not run.
 * Migrations applied but unknown here (a rollback to older code) are fine: they only add.
 */
// biome-ignore lint/suspicious/noExplicitAny: schema-agnostic Kysely (any service's tables), Kysely's own idiom for migrations
export async function assertMigrated(db: Kysely<any>, options: MigrateOptions): Promise<void> {
  let applied: Set<string>;
  try {
    const rows = await sql<{ name: string }>`select name from ${sql.id(options.schema, "kysely_migration")}`.execute(
      db,
    );
    applied = new Set(rows.rows.map((row) => row.name));
  } catch (error) {
    throw new MigrationError(options.schema, undefined, {
      cause: new Error("its migration table cannot be read: run the migrate one-shot (npm run migrate) first", {
        cause: error,
      }),
    });
  }
  const pending = Object.keys(options.migrations)
    .sort()
    .filter((name) => !applied.has(name));
  if (pending.length > 0) {
    throw new MigrationError(options.schema, undefined, {
      cause: new Error(
        `${pending.length} migration(s) not applied (${pending.join(", ")}); this process does not migrate (MIGRATE_ON_START=false): run the migrate one-shot (npm run migrate) first`,
      ),
    });
  }
  options.logger.debug({ applied: applied.size }, "schema is up to date");
}

/**
 * The Kysely the Migrator works through: the same instance (same pool, plugins), with
 * - a run that is one transaction holding the schema's migration lock (see the header): its
 *   `connection()` opens that transaction, and the Migrator's own `transaction()` inside joins it;
 * - kysely's session-level lock turned off (its adapter's acquire/release do nothing);
 * - an introspector scoped to the schema. The Migrator asks "does my table exist?" through
 *   kysely's introspector, which by default reads the columns of EVERY table of EVERY schema on
 *   the server (pg_get_serial_sequence on each): slow on a shared server, and failing with
 *   "relation does not exist" when another service or test drops a schema at that moment. Its
 *   questions are about one schema only, so this answers them from that schema alone (table
 *   names; the Migrator needs no columns).
 */
// biome-ignore lint/suspicious/noExplicitAny: schema-agnostic Kysely (any service's tables), Kysely's own idiom for migrations
function migratorView(db: Kysely<any>, schema: string): Kysely<any> {
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
  const adapter = new TransactionLockedAdapter();
  const lockKey = `weelo.migrate.${schema}`;
  const run = {
    // biome-ignore lint/suspicious/noExplicitAny: the Migrator's callback over any schema
    execute: <T>(callback: (db: Kysely<any>) => Promise<T>) =>
      db.transaction().execute(async (trx) => {
        await sql`select pg_advisory_xact_lock(hashtextextended(${lockKey}, 0))`.execute(trx);
        await sql`set local search_path to ${sql.id(schema)}, public`.execute(trx);
        // The Migrator opens its transaction on the connection it was given: that is this one.
        const joined = new Proxy(trx, {
          get: (target, property) => {
            if (property === "transaction")
              return () => ({ execute: <R>(fn: (t: typeof trx) => Promise<R>) => fn(trx) });
            const value: unknown = Reflect.get(target, property, target);
            return typeof value === "function" ? value.bind(target) : value;
          },
        });
        return callback(joined);
      }),
  };
  // Methods are bound to the real instance: kysely keeps its state in private (#) fields.
  return new Proxy(db, {
    get: (target, property) => {
      if (property === "introspection") return introspection;
      if (property === "connection") return () => run;
      if (property === "getExecutor")
        return () => {
          const executor = target.getExecutor();
          return new Proxy(executor, {
            get: (inner, key) => {
              if (key === "adapter") return adapter;
              const value: unknown = Reflect.get(inner, key, inner);
              return typeof value === "function" ? value.bind(inner) : value;
            },
          });
        };
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** Postgres, without kysely's session-level migration lock: migratorView takes a transaction-level one. */
class TransactionLockedAdapter extends PostgresAdapter {
  override async acquireMigrationLock(): Promise<void> {}
  override async releaseMigrationLock(): Promise<void> {}
}
