export { startIdentity, type IdentityModuleOptions } from "./identity.module.js";
export {
  loadIdentityConfig,
  identityConfigSchema,
  identityProductionRules,
  identityRules,
  opsPhonesOf,
  DEV_OPS_PHONE,
  type IdentityConfig,
} from "./identity.config.js";
export type { DriverDirectory } from "./driver-directory.js";
export {
  createFleetDriverDirectory,
  type FleetDirectorySource,
  type FleetDriverDirectory,
} from "./fleet-driver-directory.js";
/** Its schema migrations, for the migrate one-shot (system/src/migrate.ts). */
export { identityMigrations } from "./migrations/index.js";
