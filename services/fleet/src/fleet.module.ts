/**
 * Wires the fleet service into a process: its schema, the event stream and outbox relay, the
 * vehicle catalog, registered on the shared gRPC server. Used by this service's own main and
 * by the all-in-one process alike.
 */
import { DriverServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/driver_service";
import { FleetDirectoryServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/fleet_directory_service";
import { TransporterServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/transporter_service";
import { VehicleServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/vehicle_service";
import { PricingServiceService } from "@weelo/contracts/grpc/weelo/pricing/v1/pricing_service";
import type {
  FindActiveDriverByPhoneRequest,
  FindActiveDriverByPhoneResponse,
  LinkDriverAccountRequest,
  LinkDriverAccountResponse,
  ListOnlineDriversRequest,
  ListOnlineDriversResponse,
} from "@weelo/contracts/grpc/weelo/fleet/v1/fleet_directory_service";
import type { Logger } from "@weelo/log";
import type { Platform } from "@weelo/runtime";
import type { FleetConfig } from "./fleet.config.js";
import { directoryHandlers, onlineDriversPage, transporterHandlers } from "./fleet.handlers.js";
import { createFleetService, type FleetService } from "./fleet.service.js";
import type { FleetDatabase } from "./fleet.table.js";
import { driverHandlers } from "./driver.handlers.js";
import { fleetMigrations } from "./migrations/index.js";
import { startOutboxRelay, type OutboxRelay } from "@weelo/outbox";
import { vehicleHandlers } from "./vehicle.handlers.js";
import { consumeTripStatus } from "./trip-status.js";
import { pricingVehicleTypeCatalog, staticVehicleTypeCatalog, type VehicleTypeCatalog } from "./vehicle-types.js";

export interface FleetModuleOptions {
  /** Which vehicle type ids exist; default: the pricing service at PRICING_GRPC_URL, else FLEET_VEHICLE_TYPES. */
  vehicleTypes?: VehicleTypeCatalog;
}

export interface FleetModule {
  service: FleetService;
  /**
   * FleetDirectoryService's questions answered by this process's fleet service, in the shape of
   * its client: the all-in-one hands it to identity's driver directory instead of a mesh client.
   */
  directory: InProcessFleetDirectory;
  /** Publishes the outbox; stopped at shutdown. */
  relay: OutboxRelay;
}

export interface InProcessFleetDirectory {
  findActiveDriverByPhone(request: FindActiveDriverByPhoneRequest): Promise<FindActiveDriverByPhoneResponse>;
  linkDriverAccount(request: LinkDriverAccountRequest): Promise<LinkDriverAccountResponse>;
  /** Tracking's question in the all-in-one (see ListOnlineDrivers). */
  listOnlineDrivers(request: ListOnlineDriversRequest): Promise<ListOnlineDriversResponse>;
}

export async function startFleet(
  platform: Platform,
  config: FleetConfig,
  options: FleetModuleOptions = {},
): Promise<FleetModule> {
  const logger = platform.logger.child({ component: "fleet" });
  const database = await platform.database<FleetDatabase>("fleet", fleetMigrations);
  await platform.bus.ensureStream({
    name: config.FLEET_STREAM,
    subjects: [`${config.FLEET_SUBJECT_ROOT}.>`],
    maxAgeMs: config.FLEET_STREAM_MAX_AGE_H * 3600 * 1000,
  });

  // Started after the database opened, so it stops (finishing its round) before the database closes.
  const relay = startOutboxRelay(platform, database.db, config, "fleet");

  const service = createFleetService({
    db: database.db,
    catalog: options.vehicleTypes ?? vehicleTypeCatalog(platform, config, logger),
    events: { subjectRoot: config.FLEET_SUBJECT_ROOT, committed: () => relay.kick() },
    logger,
  });
  platform.grpc
    .addService(VehicleServiceService, vehicleHandlers(service))
    .addService(DriverServiceService, driverHandlers(service))
    .addService(TransporterServiceService, transporterHandlers(service))
    // Internal (identity asks it at login, dispatch before assigning): served on the mesh listener only.
    .addService(FleetDirectoryServiceService, directoryHandlers(service));
  // Booking's events set drivers and vehicles ON_TRIP and back (booking's stream may not exist yet: looked for until it does).
  const trips = consumeTripStatus(
    platform.bus,
    database.db,
    {
      stream: config.BOOKING_STREAM,
      subjectRoot: config.BOOKING_SUBJECT_ROOT,
      durable: config.FLEET_TRIPS_CONSUMER,
      fleetSubjectRoot: config.FLEET_SUBJECT_ROOT,
    },
    logger,
    platform.metrics.registry,
  );
  platform.onShutdown("fleet trip status", () => trips.stop());
  const directory: InProcessFleetDirectory = {
    findActiveDriverByPhone: (request) => service.findActiveDriverByPhone(request.phone),
    linkDriverAccount: (request) => service.linkDriverAccount(request.phone, request.userId),
    listOnlineDrivers: async (request) =>
      onlineDriversPage(await service.listOnlineDrivers(request.pageSize, request.pageToken)),
  };
  return { service, directory, relay };
}

function vehicleTypeCatalog(platform: Platform, config: FleetConfig, logger: Logger): VehicleTypeCatalog {
  if (!config.PRICING_GRPC_URL) {
    logger.warn(
      { vehicleTypes: config.FLEET_VEHICLE_TYPES },
      "vehicle types are checked against FLEET_VEHICLE_TYPES: set PRICING_GRPC_URL to use the pricing catalog",
    );
    return staticVehicleTypeCatalog(config.FLEET_VEHICLE_TYPES);
  }
  const pricing = platform.meshClient(PricingServiceService, config.PRICING_GRPC_URL, "fleet");
  platform.onShutdown("pricing client", async () => pricing.close());
  return pricingVehicleTypeCatalog(pricing, { ttlMs: config.VEHICLE_TYPES_CACHE_TTL_S * 1000, logger });
}
