/**
 * Migrations run at start with kysely's Migrator. Its Postgres adapter holds an advisory lock
 * for the whole run (one transaction), so replicas starting together apply each migration once:
 * the others wait, then find nothing pending. The migration tables live in the service's schema.
 */
import { Migrator, type Kysely, type Migration } from "kysely";
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
export async function migrateToLatest(db: Kysely<any>, options: MigrateOptions): Promise<void> {
  const migrator = new Migrator({
    // Migrations are frozen in time and typed Kysely<any>, not the service's current tables.
    db,
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
