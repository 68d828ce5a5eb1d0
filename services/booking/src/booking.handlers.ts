/** gRPC handlers of BookingService and BookingDispatchService: protobuf ⇄ domain, nothing else. */
import { DomainError, GrpcCode } from "@weelo/errors";
import type { BookingDispatchServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_dispatch_service";
import type { BookingServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_service";
import { requirePrincipal, type ServiceHandlers } from "@weelo/grpc";
import { bookingToProto, historyToProto, orderToProto, statusFilter, statusFromProto } from "./booking.convert.js";
import type { BookingService } from "./booking.service.js";

export function bookingHandlers(bookings: BookingService): ServiceHandlers<typeof BookingServiceService> {
  return {
    async createBooking(request, ctx) {
      const { order, bookings: rows } = await bookings.createBooking(requirePrincipal(ctx, "customer"), {
        quoteToken: request.quoteToken,
        pickup: request.pickup,
        drop: request.drop,
        vehicleType: request.vehicleType,
        vehicleCount: request.vehicleCount,
        goodsType: request.goodsType,
        weightKg: request.weightKg,
        scheduledAt: request.scheduledAt,
        notes: request.notes,
        idempotencyKey: request.idempotencyKey,
      });
      return { order: orderToProto(order, rows, true) };
    },
    async getBooking(request, ctx) {
      const { booking, relation, history } = await bookings.getBooking(requirePrincipal(ctx), request.bookingId);
      return { booking: bookingToProto(booking, relation === "customer"), history: history.map(historyToProto) };
    },
    async listBookings(request, ctx) {
      const principal = requirePrincipal(ctx);
      const page = await bookings.listBookings(principal, {
        pageSize: request.pageSize,
        pageToken: request.pageToken,
        status: statusFilter(request.status),
      });
      return {
        bookings: page.items.map((b) => bookingToProto(b, principal.role === "customer")),
        nextPageToken: page.nextPageToken,
      };
    },
    async getOrder(request, ctx) {
      const { order, bookings: rows } = await bookings.getOrder(requirePrincipal(ctx), request.orderId);
      return { order: orderToProto(order, rows, true) };
    },
    async cancelBooking(request, ctx) {
      const result = await bookings.cancelBooking(requirePrincipal(ctx), request.bookingId, request.reason);
      return {
        booking: bookingToProto(result.booking, result.relation === "customer"),
        cancellationFeePaise: result.feePaise,
        reopened: result.reopened,
      };
    },
    async updateBookingStatus(request, ctx) {
      const { booking, relation } = await bookings.updateStatus(
        requirePrincipal(ctx),
        request.bookingId,
        statusFromProto(request.status),
        request.location,
        request.code,
      );
      return { booking: bookingToProto(booking, relation === "customer") };
    },
    async *watchBooking(request, ctx) {
      const principal = requirePrincipal(ctx);
      let showCodes = false;
      for await (const event of bookings.watch(principal, request.bookingId, request.afterSequence, ctx.signal)) {
        if (event.kind === "state") {
          showCodes = event.relation === "customer";
          yield {
            sequence: Number(event.booking.sequence),
            booking: bookingToProto(event.booking, showCodes),
            sentAt: new Date(),
          };
        } else {
          yield { sequence: Number(event.change.sequence), change: historyToProto(event.change), sentAt: new Date() };
        }
      }
    },
  };
}

export function dispatchHandlers(bookings: BookingService): ServiceHandlers<typeof BookingDispatchServiceService> {
  return {
    async confirmBooking(request) {
      return {
        booking: bookingToProto(await bookings.confirmBooking(request.bookingId, request.transporterId), false),
      };
    },
    async assignBooking(request) {
      const booking = await bookings.assignBooking(request.bookingId, {
        transporterId: request.transporterId,
        driverId: request.driverId,
        driverUserId: request.driverUserId,
        vehicleId: request.vehicleId,
      });
      return { booking: bookingToProto(booking, false) };
    },
    // Placeholder until operations' reassignment lands (issue 17, this session).
    async reassignBooking() {
      throw new DomainError(GrpcCode.UNIMPLEMENTED, "ReassignBooking is not implemented yet");
    },
    async reopenBooking(request) {
      return { booking: bookingToProto(await bookings.reopenBooking(request.bookingId, request.reason), false) };
    },
    async expireBooking(request) {
      return { booking: bookingToProto(await bookings.expireBooking(request.bookingId), false) };
    },
  };
}
