/**
 * Fleet's use cases: a transporter's vehicles, drivers and profile; a driver's availability;
 * the directory identity and dispatch ask over the mesh. They orchestrate rules, the repository
 * and the outbox; the gRPC handlers only translate to and from protobuf. One use case family
 * per file; this file composes them into the one service the module and the handlers use.
 */
import { createAvailability } from "./availability.js";
import { createDrivers } from "./drivers.js";
import { createFleetContext, type FleetDeps } from "./fleet.context.js";
import { createFleetDirectory } from "./fleet-directory.js";
import { createTransporterProfiles } from "./transporter-profiles.js";
import { createVehicles } from "./vehicles.js";

export type { Availability } from "./availability.js";
export type { NewDriver } from "./drivers.js";
export type { FleetDeps, Page } from "./fleet.context.js";
export type { DirectoryEntry } from "./fleet-directory.js";
export type { TransporterProfile } from "./transporter-profiles.js";
export type { NewVehicle, VehicleChanges } from "./vehicles.js";

export type FleetService = ReturnType<typeof createFleetService>;

export function createFleetService(deps: FleetDeps) {
  const ctx = createFleetContext(deps);
  return {
    ...createVehicles(ctx),
    ...createDrivers(ctx),
    ...createAvailability(ctx),
    ...createTransporterProfiles(ctx),
    ...createFleetDirectory(ctx),
  };
}
