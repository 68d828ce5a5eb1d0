/**
 * `npm run migrate`: the migrate one-shot. Brings every service's schema to its latest migration
 * and grants each service's runtime role its own schema (system/src/migrations.ts), then exits:
 * 0 when all is done, 1 on the first failure (nothing of a failed schema's run is kept).
 * Runs as the DDL-capable role (DATABASE_URL) before a new version rolls out: the weelo-migrate
 * Job (deploy/k8s/base/migrate.yaml), compose's `migrate` service. DB_ROLE_PREFIX (e.g. weelo_)
 * names the runtime roles; unset, roles are left to whoever manages them.
 * DB_PASSWORD_<SERVICE> (compose's development stack) sets a role's password.
 */
import { baseConfigSchema, ConfigError, productionRefusesPlaceholders, z } from "@weelo/config";
import { createLogger } from "@weelo/log";
import { migrateAll, serviceMigrations } from "./migrations.js";

/** Its own few settings: a one-shot needs no cache, bus or keys (the processes' production rules). */
const migrateConfigSchema = baseConfigSchema.pick({ DATABASE_URL: true, DB_SCHEMA_PREFIX: true }).extend({
  DB_ROLE_PREFIX: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,40}$/, "a lowercase identifier prefix")
    .optional(),
});

const logger = createLogger({ service: "migrate", level: process.env.LOG_LEVEL === "silent" ? "silent" : "info" });
try {
  const parsed = migrateConfigSchema.safeParse(process.env);
  if (!parsed.success)
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`));
  const config = parsed.data;
  if (!config.DATABASE_URL) throw new ConfigError(["DATABASE_URL: the DDL-capable role's Postgres URL is required"]);
  const placeholders = productionRefusesPlaceholders(config);
  if (placeholders.length > 0) throw new ConfigError(placeholders);
  const passwords = Object.fromEntries(
    Object.keys(serviceMigrations).map((service) => [service, process.env[`DB_PASSWORD_${service.toUpperCase()}`]]),
  );
  await migrateAll({
    databaseUrl: config.DATABASE_URL,
    schemaPrefix: config.DB_SCHEMA_PREFIX,
    ...(config.DB_ROLE_PREFIX !== undefined ? { rolePrefix: config.DB_ROLE_PREFIX } : {}),
    passwords,
    logger,
  });
  logger.info("every schema is up to date");
} catch (error) {
  logger.error({ err: error }, "migration failed");
  process.exitCode = 1;
}
