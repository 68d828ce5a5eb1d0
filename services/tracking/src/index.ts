export { startTracking, type TrackingModule, type TrackingModuleOptions, type DriverCommands, type CommandDelivery } from "./tracking.module.js";
export { loadTrackingConfig, trackingConfigSchema, trackingProductionRules, type TrackingConfig } from "./tracking.config.js";
export { PUBLIC_INTERNAL_METHODS, type DriverResolver } from "./tracking.handlers.js";
export { MemoryTripDirectory, type Trip, type TripDirectory } from "./trip-directory.js";
export { type PositionStore, type DriverAvailability } from "./position-store.js";
export { type TrackingService } from "./tracking.service.js";
