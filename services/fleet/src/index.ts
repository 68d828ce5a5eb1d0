export { startFleet, type FleetModule, type FleetModuleOptions } from "./fleet.module.js";
export {
  loadFleetConfig,
  fleetConfigSchema,
  fleetProductionRules,
  DEFAULT_VEHICLE_TYPE_IDS,
  type FleetConfig,
} from "./fleet.config.js";
export {
  createFleetDriverDirectory,
  fleetDirectorySource,
  type FleetDirectorySource,
  type FleetDriverDirectory,
} from "./driver-directory.js";
export { DRIVER_AVAILABILITY_EVENT, DRIVER_AVAILABILITY_PAYLOAD_TYPE } from "./fleet.events.js";
export {
  pricingVehicleTypeCatalog,
  staticVehicleTypeCatalog,
  type VehicleTypeCatalog,
  type VehicleTypeSource,
} from "./vehicle-types.js";
export type { FleetService } from "./fleet.service.js";
/** Its schema migrations, for the migrate one-shot (gateway/src/migrate.ts). */
export { fleetMigrations } from "./migrations/index.js";
