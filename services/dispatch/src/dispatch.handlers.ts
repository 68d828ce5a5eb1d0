/** gRPC handlers of DispatchService: protobuf ⇄ domain, nothing else. */
import type { DispatchServiceService } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch_service";
import { requirePrincipal, type ServiceHandlers } from "@weelo/grpc";
import { statusFilter } from "./dispatch.convert.js";
import type { DispatchService } from "./dispatch.service.js";

export function dispatchHandlers(dispatch: DispatchService): ServiceHandlers<typeof DispatchServiceService> {
  return {
    async *watchOffers(_request, ctx) {
      yield* dispatch.watchOffers(requirePrincipal(ctx, "transporter"), ctx.signal);
    },
    async listOffers(request, ctx) {
      return dispatch.listOffers(requirePrincipal(ctx, "transporter"), {
        status: statusFilter(request.status),
        pageSize: request.pageSize,
        pageToken: request.pageToken,
      });
    },
    async acceptOffer(request, ctx) {
      return dispatch.acceptOffer(requirePrincipal(ctx, "transporter"), request.offerId, request.vehicleCount);
    },
    async declineOffer(request, ctx) {
      return {
        offer: await dispatch.declineOffer(requirePrincipal(ctx, "transporter"), request.offerId, request.reason),
      };
    },
    async assignDriver(request, ctx) {
      const row = await dispatch.assignDriver(requirePrincipal(ctx, "transporter"), {
        bookingId: request.bookingId,
        driverId: request.driverId,
        vehicleId: request.vehicleId,
      });
      return {
        bookingId: row.booking_id,
        driverId: row.driver_id ?? "",
        vehicleId: row.vehicle_id ?? "",
        assignedAt: row.assigned_at ?? undefined,
      };
    },
  };
}
