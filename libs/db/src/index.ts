/**
 * @weelo/db: kysely over pg (DATABASE_URL) or the embedded PGlite, one Postgres schema and
 * one set of migrations per service, query metrics, and the database errors callers act on.
 */
export {
  createDatabase,
  migrationsAtStart,
  type CreateDatabaseOptions,
  type Database,
  type DatabaseConfig,
} from "./database.js";
export { MigrationError, type Migrations } from "./migrate.js";
export { isSerializationFailure, isUniqueViolation, pgErrorCode, PgErrorCode } from "./errors.js";
export { DEFAULT_SLOW_QUERY_MS, queryOperation, type QueryOperation } from "./query-log.js";
export { dropSchema, embeddedTestDataDir, testSchemaName } from "./testing.js";

// The kysely pieces services need, so a service depends on @weelo/db alone.
export {
  sql,
  type ColumnType,
  type Generated,
  type Insertable,
  type Kysely,
  type Migration,
  type Selectable,
  type Transaction,
  type Updateable,
} from "kysely";
export { grantServiceRole, type ServiceRole } from "./roles.js";
