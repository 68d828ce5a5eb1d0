/**
 * gRPC handlers of TransporterService and FleetDirectoryService, and the protobuf ⇄ domain
 * conversions the fleet's handlers share (vehicle.handlers.ts, driver.handlers.ts).
 */
import type {
  FleetDirectoryServiceService,
  ListOnlineDriversResponse,
} from "@weelo/contracts/grpc/weelo/fleet/v1/fleet_directory_service";
import {
  DriverStatus as ProtoDriverStatus,
  VehicleStatus as ProtoVehicleStatus,
  type Driver,
  type TransporterProfile,
  type Vehicle,
} from "@weelo/contracts/grpc/weelo/fleet/v1/fleet";
import type { TransporterServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/transporter_service";
import { InvalidArgumentError } from "@weelo/errors";
import { requirePrincipal, type ServiceHandlers } from "@weelo/grpc";
import type { OnlineDriverRow } from "./drivers.repository.js";
import type { FleetService, TransporterProfile as DomainProfile } from "./fleet.service.js";
import type { DriverRow, DriverStatus, VehicleStatus, VehicleView } from "./fleet.table.js";

export function transporterHandlers(fleet: FleetService): ServiceHandlers<typeof TransporterServiceService> {
  return {
    async getTransporterProfile(_request, ctx) {
      return { profile: profileToProto(await fleet.getTransporterProfile(requirePrincipal(ctx, "transporter"))) };
    },
    async updateTransporterProfile(request, ctx) {
      const profile = await fleet.updateTransporterProfile(requirePrincipal(ctx, "transporter"), {
        base: request.baseLocation,
        serviceRadiusKm: request.serviceRadiusKm,
      });
      return { profile: profileToProto(profile) };
    },
  };
}

export function directoryHandlers(fleet: FleetService): ServiceHandlers<typeof FleetDirectoryServiceService> {
  return {
    async findActiveDriverByPhone(request) {
      return fleet.findActiveDriverByPhone(request.phone);
    },
    async linkDriverAccount(request) {
      return fleet.linkDriverAccount(request.phone, request.userId);
    },
    async findServingTransporters(request) {
      const rows = await fleet.findServingTransporters({
        point: request.point,
        vehicleType: request.vehicleType,
        maxDistanceM: request.maxDistanceM,
        limit: request.limit,
      });
      return {
        transporters: rows.map((r) => ({
          transporterId: r.transporter_id,
          distanceM: r.distance_m,
          availableVehicles: r.available_vehicles,
        })),
      };
    },
    async listOnlineDrivers(request) {
      return onlineDriversPage(await fleet.listOnlineDrivers(request.pageSize, request.pageToken));
    },
    async getDriverAndVehicle(request) {
      const { driver, vehicle } = await fleet.getDriverAndVehicle(
        request.transporterId,
        request.driverId,
        request.vehicleId,
      );
      return {
        driverFound: driver !== undefined,
        driverUserId: driver?.user_id ?? "",
        driverStatus: driver ? protoOf(DRIVER_STATUSES, driver.status) : ProtoDriverStatus.DRIVER_STATUS_UNSPECIFIED,
        vehicleFound: vehicle !== undefined,
        vehicleType: vehicle?.vehicle_type ?? "",
        vehicleStatus: vehicle
          ? protoOf(VEHICLE_STATUSES, vehicle.status)
          : ProtoVehicleStatus.VEHICLE_STATUS_UNSPECIFIED,
      };
    },
  };
}

const VEHICLE_STATUSES: Partial<Record<ProtoVehicleStatus, VehicleStatus>> = {
  [ProtoVehicleStatus.VEHICLE_STATUS_AVAILABLE]: "available",
  [ProtoVehicleStatus.VEHICLE_STATUS_ON_TRIP]: "on_trip",
  [ProtoVehicleStatus.VEHICLE_STATUS_MAINTENANCE]: "maintenance",
  [ProtoVehicleStatus.VEHICLE_STATUS_INACTIVE]: "inactive",
};

const DRIVER_STATUSES: Partial<Record<ProtoDriverStatus, DriverStatus>> = {
  [ProtoDriverStatus.DRIVER_STATUS_OFFLINE]: "offline",
  [ProtoDriverStatus.DRIVER_STATUS_ONLINE]: "online",
  [ProtoDriverStatus.DRIVER_STATUS_ON_TRIP]: "on_trip",
};

const protoOf = <P extends number, W extends string>(table: Partial<Record<P, W>>, word: W): P =>
  Number(Object.entries(table).find(([, w]) => w === word)?.[0] ?? 0) as P;

/** A vehicle status in a request; UNSPECIFIED is refused. */
export function vehicleStatusFromProto(status: ProtoVehicleStatus, field = "status"): VehicleStatus {
  const word = VEHICLE_STATUSES[status];
  if (!word)
    throw new InvalidArgumentError(
      field,
      `${field} must be VEHICLE_STATUS_AVAILABLE, VEHICLE_STATUS_MAINTENANCE or VEHICLE_STATUS_INACTIVE`,
    );
  return word;
}

/** A vehicle status filter: UNSPECIFIED means any. */
export function vehicleStatusFilter(status: ProtoVehicleStatus): VehicleStatus | undefined {
  return status === ProtoVehicleStatus.VEHICLE_STATUS_UNSPECIFIED ? undefined : vehicleStatusFromProto(status);
}

/** A driver status filter: UNSPECIFIED means any. */
export function driverStatusFilter(status: ProtoDriverStatus, field = "status"): DriverStatus | undefined {
  if (status === ProtoDriverStatus.DRIVER_STATUS_UNSPECIFIED) return undefined;
  const word = DRIVER_STATUSES[status];
  if (!word)
    throw new InvalidArgumentError(
      field,
      `${field} must be DRIVER_STATUS_OFFLINE, DRIVER_STATUS_ONLINE or DRIVER_STATUS_ON_TRIP`,
    );
  return word;
}

export function vehicleToProto(vehicle: VehicleView): Vehicle {
  return {
    id: vehicle.id,
    transporterId: vehicle.transporter_id,
    registrationNumber: vehicle.registration_number,
    vehicleType: vehicle.vehicle_type,
    capacityKg: vehicle.capacity_kg,
    makeModel: vehicle.make_model,
    status: protoOf(VEHICLE_STATUSES, vehicle.status),
    currentDriverId: vehicle.current_driver_id ?? "",
    createdAt: vehicle.created_at,
    updatedAt: vehicle.updated_at,
  };
}

export function driverToProto(driver: DriverRow): Driver {
  return {
    id: driver.id,
    transporterId: driver.transporter_id,
    name: driver.name,
    phone: driver.phone,
    licenceNumber: driver.licence_number,
    status: protoOf(DRIVER_STATUSES, driver.status),
    vehicleId: driver.vehicle_id ?? "",
    createdAt: driver.created_at,
    updatedAt: driver.updated_at,
  };
}

function profileToProto(profile: DomainProfile): TransporterProfile {
  return {
    transporterId: profile.transporterId,
    baseLocation: profile.base,
    serviceRadiusKm: profile.serviceRadiusKm,
    updatedAt: profile.updatedAt,
  };
}

/** A page of fleet's online drivers in the contract's shape (the gRPC handler's and the in-process directory's). */
export function onlineDriversPage(page: {
  items: OnlineDriverRow[];
  nextPageToken: string;
}): ListOnlineDriversResponse {
  return {
    drivers: page.items.map((row) => ({
      driverId: row.id,
      transporterId: row.transporter_id,
      vehicleId: row.vehicle_id,
      vehicleType: row.vehicle_type,
      sequence: Number(row.event_seq),
    })),
    nextPageToken: page.nextPageToken,
  };
}
