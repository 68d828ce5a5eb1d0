/** gRPC handlers of VehicleService: protobuf ⇄ domain, nothing else. */
import type { VehicleServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/vehicle_service";
import { requirePrincipal, type ServiceHandlers } from "@weelo/grpc";
import { vehicleStatusFilter, vehicleStatusFromProto, vehicleToProto } from "./fleet.handlers.js";
import type { FleetService } from "./fleet.service.js";

export function vehicleHandlers(fleet: FleetService): ServiceHandlers<typeof VehicleServiceService> {
  return {
    async addVehicle(request, ctx) {
      const vehicle = await fleet.addVehicle(requirePrincipal(ctx, "transporter"), {
        idempotencyKey: request.idempotencyKey,
        registrationNumber: request.registrationNumber,
        vehicleType: request.vehicleType,
        capacityKg: request.capacityKg,
        makeModel: request.makeModel,
      });
      return { vehicle: vehicleToProto(vehicle) };
    },
    async listVehicles(request, ctx) {
      // Drivers list their transporter's vehicles too: they pick one to go online with.
      const page = await fleet.listVehicles(requirePrincipal(ctx, "transporter", "driver"), {
        pageSize: request.pageSize,
        pageToken: request.pageToken,
        status: vehicleStatusFilter(request.status),
        vehicleType: request.vehicleType,
      });
      return { vehicles: page.items.map(vehicleToProto), nextPageToken: page.nextPageToken };
    },
    async getVehicle(request, ctx) {
      return {
        vehicle: vehicleToProto(
          await fleet.getVehicle(requirePrincipal(ctx, "transporter", "driver"), request.vehicleId),
        ),
      };
    },
    async updateVehicle(request, ctx) {
      const vehicle = await fleet.updateVehicle(requirePrincipal(ctx, "transporter"), request.vehicleId, {
        vehicleType: request.vehicleType,
        capacityKg: request.capacityKg,
        makeModel: request.makeModel,
        status: request.status === undefined ? undefined : vehicleStatusFromProto(request.status),
      });
      return { vehicle: vehicleToProto(vehicle) };
    },
    async deleteVehicle(request, ctx) {
      await fleet.deleteVehicle(requirePrincipal(ctx, "transporter"), request.vehicleId);
      return {};
    },
  };
}
