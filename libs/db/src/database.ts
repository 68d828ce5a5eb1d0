/**
 * createDatabase: kysely for one service, over a pg pool when DATABASE_URL is set or over the
 * shared embedded PGlite otherwise. Each service owns a Postgres schema, which holds its tables
 * and its kysely migration tables. Queries built with kysely name the schema themselves
 * (WithSchemaPlugin: `selectFrom('users')` is sent as `"identity"."users"`), so they depend on
 * no per-connection state: a transaction-pooling PgBouncer may hand each transaction another
 * server connection, which would lose a search_path set when the connection was opened.
 * Raw SQL is not rewritten: name its tables `sql.id(database.schema, "table")`, or use the builder.
 */
import { Kysely, PostgresDialect, sql, WithSchemaPlugin } from "kysely";
import pg from "pg";
import type { BaseConfig } from "@weelo/config";
import type { Logger } from "@weelo/log";
import type { Metrics } from "@weelo/metrics";
import { pgErrorCode, PgErrorCode } from "./errors.js";
import { assertMigrated, migrateToLatest, type Migrations } from "./migrate.js";
import { acquirePGlite, PGlitePool, pgliteDataDir } from "./pglite.js";
import { createQueryLog } from "./query-log.js";

export type DatabaseConfig = Pick<
  BaseConfig,
  "DATABASE_URL" | "DB_POOL_MIN" | "DB_POOL_MAX" | "DB_POOL_IDLE_MS" | "DATA_DIR"
> &
  Partial<Pick<BaseConfig, "MIGRATE_ON_START" | "NODE_ENV">>;

export interface CreateDatabaseOptions {
  /** The service's name: the metrics label, and its Postgres schema unless `schema` is given. */
  service: string;
  config: DatabaseConfig;
  /** The service's migrations by name; names sort in the order they run. */
  migrations: Migrations;
  logger: Logger;
  metrics?: Metrics;
  /** Another schema than the service's name: tests use a fresh one each. */
  schema?: string;
  /** Queries slower than this are logged at warn with their SQL (default 500 ms). */
  slowQueryMs?: number;
  /**
   * Create the schema and apply pending migrations now (needs a role that may run DDL), or only
   * check that none is pending (the runtime role of a production service, which may not).
   * Default: config.MIGRATE_ON_START, else true except in production (see migrationsAtStart).
   */
  migrate?: boolean;
}

export interface Database<DB> {
  /** Kysely bound to the service's schema. */
  readonly db: Kysely<DB>;
  /** Where the data lives: a Postgres server, or PGlite embedded in this process. */
  readonly kind: "postgres" | "pglite";
  /** The Postgres schema that holds this service's tables. */
  readonly schema: string;
  /** Runs SELECT 1; rejects when the database cannot answer (for readiness checks). */
  ping(): Promise<void>;
  /** Ends the pool, or drops this service's hold on the shared PGlite. Safe to call twice. */
  close(): Promise<void>;
}

/** Unquoted Postgres identifiers: safe in search_path and in DDL without escaping. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Fail fast (rather than queue forever) when no pooled connection frees up. */
const POOL_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Opens the service's database, makes sure its schema exists and runs its pending migrations.
 * Throws (after closing what it opened) if the database is unreachable or a migration fails.
 */
export async function createDatabase<DB>(options: CreateDatabaseOptions): Promise<Database<DB>> {
  const schema = options.schema ?? options.service;
  if (!SCHEMA_NAME.test(schema)) {
    throw new Error(`invalid schema name "${schema}": use lowercase letters, digits and _ (at most 63)`);
  }
  // Embedded PGlite (one connection, no pooler) and migrations (SET LOCAL) still set it, so
  // raw SQL there resolves the service's tables; public after it for extensions (pgcrypto).
  const searchPath = `${schema},public`;
  const logger = options.logger.child({ component: "db", schema });
  const log = createQueryLog({
    service: options.service,
    logger,
    metrics: options.metrics,
    slowQueryMs: options.slowQueryMs,
  });

  let kind: Database<DB>["kind"];
  let dialect: PostgresDialect;
  // Runs after db.destroy(): kysely skips its driver's destroy when no query ever ran.
  let releaseEmbedded = async () => {};
  if (options.config.DATABASE_URL) {
    kind = "postgres";
    const pool = new pg.Pool({
      connectionString: options.config.DATABASE_URL,
      min: options.config.DB_POOL_MIN,
      max: options.config.DB_POOL_MAX,
      idleTimeoutMillis: options.config.DB_POOL_IDLE_MS,
      connectionTimeoutMillis: POOL_CONNECT_TIMEOUT_MS,
      application_name: options.service,
    });
    // An idle client's error (server restart, network cut) is emitted on the pool; unhandled,
    // it would crash the process. The pool drops that client and opens a new one when needed.
    pool.on("error", (error) => logger.error({ err: error }, "idle database connection failed"));
    // A client in use between two statements (a transaction awaiting other work) gets the same
    // error on the client itself, with no query to hand it to; unhandled, it crashed the process
    // on a Postgres restart (booking and both dispatch replicas, in the mesh fault run). The next
    // statement on that client fails and the pool discards it; the error is only noted here.
    pool.on("connect", (client) => {
      client.on("error", (error) => logger.warn({ err: error }, "database connection failed while in use"));
    });
    dialect = new PostgresDialect({ pool });
  } else {
    kind = "pglite";
    const shared = await acquirePGlite(await pgliteDataDir(options.config.DATA_DIR), logger);
    const pool = new PGlitePool(shared, searchPath, logger);
    dialect = new PostgresDialect({ pool });
    releaseEmbedded = () => pool.end(); // idempotent
  }

  const db = new Kysely<DB>({ dialect, log, plugins: [new WithSchemaPlugin(schema)] });
  let closed: Promise<void> | undefined;
  const close = () => (closed ??= db.destroy().finally(releaseEmbedded));

  try {
    if (options.migrate ?? migrationsAtStart(options.config)) {
      await ensureSchema(db, schema);
      await migrateToLatest(db, { schema, migrations: options.migrations, logger });
    } else {
      await assertMigrated(db, { schema, migrations: options.migrations, logger });
    }
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }

  return {
    db,
    kind,
    schema,
    async ping() {
      await sql`select 1`.execute(db);
    },
    close,
  };
}

/**
 * Whether a service migrates its own schema as it starts: MIGRATE_ON_START when set, otherwise
 * yes in development and tests (and the all-in-one) and no in production, where the migrate
 * one-shot (`npm run migrate`, the weelo-migrate Job) applies them with a DDL-capable role
 * before the new version rolls out, and the services' runtime roles cannot run DDL.
 */
export function migrationsAtStart(config: Partial<Pick<BaseConfig, "MIGRATE_ON_START" | "NODE_ENV">>): boolean {
  return config.MIGRATE_ON_START ?? config.NODE_ENV !== "production";
}

/**
 * CREATE SCHEMA IF NOT EXISTS is not race-free in Postgres: replicas starting together can
 * both pass the existence check and one fails on pg_namespace's unique index (23505) or with
 * 42P06. Either way the schema exists afterwards, which is all we need.
 */
// biome-ignore lint/suspicious/noExplicitAny: schema-agnostic Kysely (any service's tables), Kysely's own idiom for migrations
async function ensureSchema(db: Kysely<any>, schema: string): Promise<void> {
  try {
    await db.schema.createSchema(schema).ifNotExists().execute();
  } catch (error) {
    const code = pgErrorCode(error);
    if (code !== PgErrorCode.uniqueViolation && code !== PgErrorCode.duplicateSchema) throw error;
    const exists = await sql<{ exists: boolean }>`
      select exists (select 1 from pg_namespace where nspname = ${schema}) as exists`.execute(db);
    if (!exists.rows[0]?.exists) throw error;
  }
}
