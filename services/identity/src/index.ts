export { startIdentity, type IdentityModuleOptions } from "./identity.module.js";
export {
  loadIdentityConfig,
  identityConfigSchema,
  identityProductionRules,
  identityRules,
  type IdentityConfig,
} from "./identity.config.js";
export type { DriverDirectory } from "./driver-directory.js";
/** Its schema migrations, for the migrate one-shot (gateway/src/migrate.ts). */
export { identityMigrations } from "./migrations/index.js";
