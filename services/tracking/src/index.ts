export {
  startTracking,
  type ArrivalChecker,
  type TrackingModule,
  type TrackingModuleOptions,
  type DriverCommands,
  type CommandDelivery,
} from "./tracking.module.js";
export {
  loadTrackingConfig,
  trackingConfigSchema,
  trackingProductionRules,
  trackingRules,
  type TrackingConfig,
} from "./tracking.config.js";
export type { DriverResolver } from "./tracking.handlers.js";
export { TripDirectory, type Trip } from "./trip-directory.js";
export { trackingEventSubjects } from "./trip-events.js";
export type { PositionStore, DriverAvailability } from "./position-store.js";
export type { TrackingService } from "./tracking.service.js";
/** Its schema migrations, for the migrate one-shot (system/src/migrate.ts). */
export { trackingMigrations } from "./migrations/index.js";
