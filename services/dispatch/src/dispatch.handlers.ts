/** gRPC handlers of DispatchService and DispatchOpsService: protobuf ⇄ domain, nothing else. */
import type { DispatchOpsServiceService } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch_ops_service";
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

/** Operations' service (internal, callers: ops): no user token; the operations user's id is in the request. */
export function opsHandlers(dispatch: DispatchService): ServiceHandlers<typeof DispatchOpsServiceService> {
  return {
    async listBookingOffers(request) {
      return { offers: await dispatch.bookingOffers(request.bookingId) };
    },
    async reopenBookingByOps(request) {
      return dispatch.reopenByOps({
        bookingId: request.bookingId,
        opsUserId: request.opsUserId,
        reason: request.reason,
      });
    },
    async reassignDriver(request) {
      return dispatch.reassignDriver({
        bookingId: request.bookingId,
        driverId: request.driverId,
        vehicleId: request.vehicleId,
        opsUserId: request.opsUserId,
        reason: request.reason,
      });
    },
    async getDispatchFunnel(request) {
      const hours = await dispatch.funnel(request.from!, request.to!);
      return {
        hours: hours.map((h) => ({
          hourStart: h.hour_start,
          waves: h.waves,
          offers: h.offers,
          accepted: h.accepted,
          offersExpired: h.offers_expired,
        })),
      };
    },
    async listOfferedTransporters() {
      return { transporterIds: await dispatch.offeredTransporters() };
    },
  };
}
