export { startOps, type OpsModuleOptions } from "./ops.module.js";
export { loadOpsConfig, opsConfigSchema, opsAloneRules, OPS_UPSTREAM_SETTINGS, type OpsConfig } from "./ops.config.js";
export type { OpsService } from "./ops.service.js";
/** Its schema migrations, for the migrate one-shot (system/src/migrate.ts). */
export { opsMigrations } from "./migrations/index.js";
