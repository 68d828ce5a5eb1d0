/** gRPC handlers of DriverService: protobuf ⇄ domain, nothing else. */
import type { DriverServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/driver_service";
import { requirePrincipal, type ServiceHandlers } from "@weelo/grpc";
import { driverStatusFilter, driverToProto, vehicleToProto } from "./fleet.handlers.js";
import type { Availability, FleetService } from "./fleet.service.js";

export function driverHandlers(fleet: FleetService): ServiceHandlers<typeof DriverServiceService> {
  return {
    async addDriver(request, ctx) {
      const driver = await fleet.addDriver(requirePrincipal(ctx, "transporter"), {
        idempotencyKey: request.idempotencyKey,
        name: request.name,
        phone: request.phone,
        licenceNumber: request.licenceNumber,
      });
      return { driver: driverToProto(driver) };
    },
    async listDrivers(request, ctx) {
      const page = await fleet.listDrivers(requirePrincipal(ctx, "transporter"), {
        pageSize: request.pageSize,
        pageToken: request.pageToken,
        status: driverStatusFilter(request.status),
      });
      return { drivers: page.items.map(driverToProto), nextPageToken: page.nextPageToken };
    },
    async getDriver(request, ctx) {
      return { driver: driverToProto(await fleet.getDriver(requirePrincipal(ctx, "transporter"), request.driverId)) };
    },
    async removeDriver(request, ctx) {
      await fleet.removeDriver(requirePrincipal(ctx, "transporter"), request.driverId);
      return {};
    },
    async setAvailability(request, ctx) {
      return availabilityToProto(
        await fleet.setAvailability(requirePrincipal(ctx, "driver"), {
          online: request.online,
          vehicleId: request.vehicleId,
        }),
      );
    },
    async getAvailability(_request, ctx) {
      return availabilityToProto(await fleet.getAvailability(requirePrincipal(ctx, "driver")));
    },
  };
}

function availabilityToProto(availability: Availability) {
  return {
    driver: driverToProto(availability.driver),
    vehicle: availability.vehicle ? vehicleToProto(availability.vehicle) : undefined,
  };
}
