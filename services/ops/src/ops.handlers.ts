/** gRPC handlers of OpsService: the role check and protobuf ⇄ domain, nothing else. */
import type { OpsServiceService } from "@weelo/contracts/grpc/weelo/ops/v1/ops_service";
import type { ServiceHandlers } from "@weelo/grpc";
import { requireOps } from "./ops.context.js";
import type { OpsService } from "./ops.service.js";
import { watchFleet } from "./watch-fleet.js";

export function opsHandlers(ops: OpsService): ServiceHandlers<typeof OpsServiceService> {
  const actor = (ctx: { principal: Parameters<typeof requireOps>[0] }) => ops.actorOf(requireOps(ctx.principal));
  return {
    async searchBookings(request, ctx) {
      requireOps(ctx.principal);
      const page = await ops.searchBookings(request);
      return { bookings: page.bookings, page: { nextPageToken: page.nextPageToken } };
    },
    async getBookingDetail(request, ctx) {
      requireOps(ctx.principal);
      return ops.getBookingDetail(request.bookingId);
    },
    async cancelBooking(request, ctx) {
      return ops.cancelBooking(await actor(ctx), request);
    },
    async reopenBooking(request, ctx) {
      return ops.reopenBooking(await actor(ctx), request);
    },
    async reassignDriver(request, ctx) {
      return ops.reassignDriver(await actor(ctx), request);
    },
    async findUsers(request, ctx) {
      requireOps(ctx.principal);
      return { users: await ops.findUsers(request.phone) };
    },
    async blockUser(request, ctx) {
      return ops.blockUser(await actor(ctx), request);
    },
    async unblockUser(request, ctx) {
      return ops.unblockUser(await actor(ctx), request);
    },
    async listAuditEntries(request, ctx) {
      requireOps(ctx.principal);
      const page = await ops.listAuditEntries(request);
      return { entries: page.entries, page: { nextPageToken: page.nextPageToken } };
    },
    async getFunnel(request, ctx) {
      requireOps(ctx.principal);
      return { hours: await ops.getFunnel(request.from, request.to) };
    },
    async getServiceHealth(_request, ctx) {
      requireOps(ctx.principal);
      return { services: await ops.getServiceHealth() };
    },
    async *watchFleet(request, ctx) {
      requireOps(ctx.principal);
      // bounds is required by the contract's rule, checked before this handler runs.
      yield* watchFleet(ops.fleetWatchDeps, request.bounds!, ctx.signal);
    },
  };
}
