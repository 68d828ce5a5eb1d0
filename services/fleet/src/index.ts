export {
  startFleet,
  type FleetModule,
  type FleetModuleOptions,
  type InProcessFleetDirectory,
} from "./fleet.module.js";
export {
  loadFleetConfig,
  fleetConfigSchema,
  fleetProductionRules,
  DEFAULT_VEHICLE_TYPE_IDS,
  type FleetConfig,
} from "./fleet.config.js";
export { DRIVER_AVAILABILITY_EVENT, DRIVER_AVAILABILITY_PAYLOAD_TYPE } from "./fleet.events.js";
export {
  pricingVehicleTypeCatalog,
  staticVehicleTypeCatalog,
  type VehicleTypeCatalog,
  type VehicleTypeSource,
} from "./vehicle-types.js";
export type { FleetService } from "./fleet.service.js";
/** Its schema migrations, for the migrate one-shot (system/src/migrate.ts). */
export { fleetMigrations } from "./migrations/index.js";
