/**
 * The migrate one-shot's work: every service's schema brought to its latest migration, then
 * (optionally) each service's runtime role given exactly its schema's data (libs/db roles.ts).
 * It runs before a new version rolls out (the weelo-migrate Job, compose's migrate service),
 * connected as the DDL-capable role that owns the schemas; the services then start with
 * MIGRATE_ON_START=false and only check that their schema is up to date.
 */
import { bookingMigrations } from "@weelo/booking";
import { createDatabase, grantServiceRole, type Migrations } from "@weelo/db";
import { dispatchMigrations } from "@weelo/dispatch";
import { fleetMigrations } from "@weelo/fleet";
import { identityMigrations } from "@weelo/identity";
import type { Logger } from "@weelo/log";
import { notificationMigrations } from "@weelo/notification";
import { opsMigrations } from "@weelo/ops";
import { pricingMigrations } from "@weelo/pricing";
import { trackingMigrations } from "@weelo/tracking";

/** Every service with a database, in the order the all-in-one starts them. */
export const serviceMigrations: Readonly<Record<string, Migrations>> = {
  identity: identityMigrations,
  fleet: fleetMigrations,
  pricing: pricingMigrations,
  booking: bookingMigrations,
  tracking: trackingMigrations,
  dispatch: dispatchMigrations,
  notification: notificationMigrations,
  ops: opsMigrations,
};

export interface MigrateAllOptions {
  /** The DDL-capable role's connection (direct to Postgres or through PgBouncer: both work). */
  databaseUrl: string;
  /** As the services' DB_SCHEMA_PREFIX: schema = prefix + service. */
  schemaPrefix: string;
  /** Runtime roles are `${rolePrefix}${service}`; undefined leaves roles alone (managed elsewhere). */
  rolePrefix?: string;
  /** Passwords to set, by service (compose); a role without one keeps its password. */
  passwords?: Readonly<Record<string, string | undefined>>;
  logger: Logger;
}

/** Migrates every service's schema, one after the other, and grants the runtime roles. */
export async function migrateAll(options: MigrateAllOptions): Promise<void> {
  for (const [service, migrations] of Object.entries(serviceMigrations)) {
    const schema = `${options.schemaPrefix}${service}`;
    const database = await createDatabase({
      service,
      schema,
      config: {
        DATABASE_URL: options.databaseUrl,
        DATA_DIR: "",
        DB_POOL_MIN: 0,
        DB_POOL_MAX: 2,
        DB_POOL_IDLE_MS: 1000,
      },
      migrations,
      logger: options.logger,
      migrate: true,
    });
    await database.close();
    if (options.rolePrefix !== undefined) {
      const role = `${options.rolePrefix}${service}`;
      const password = options.passwords?.[service];
      await grantServiceRole(options.databaseUrl, { schema, role, ...(password ? { password } : {}) });
      options.logger.info({ schema, role }, "schema migrated, runtime role granted");
    } else {
      options.logger.info({ schema }, "schema migrated");
    }
  }
}
