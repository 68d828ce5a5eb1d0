/** gRPC handlers of BookingService, BookingDispatchService and BookingOpsService: protobuf ⇄ domain, nothing else. */
import type { BookingDispatchServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_dispatch_service";
import type { BookingOpsServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_ops_service";
import type { BookingServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_service";
import { requirePrincipal, type ServiceHandlers } from "@weelo/grpc";
import {
  bookingToProto,
  historyToProto,
  orderToProto,
  statusFilter,
  statusFromProto,
  statusToProto,
} from "./booking.convert.js";
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
    async reassignBooking(request) {
      const result = await bookings.reassignBooking(request.bookingId, {
        driverId: request.driverId,
        driverUserId: request.driverUserId,
        vehicleId: request.vehicleId,
        opsUserId: request.opsUserId,
        reason: request.reason,
      });
      return {
        booking: bookingToProto(result.booking, false),
        previousDriverId: result.previousDriverId,
        previousVehicleId: result.previousVehicleId,
      };
    },
    async reopenBooking(request) {
      const booking = await bookings.reopenBooking(request.bookingId, request.reason, request.opsUserId);
      return { booking: bookingToProto(booking, false) };
    },
    async expireBooking(request) {
      return { booking: bookingToProto(await bookings.expireBooking(request.bookingId), false) };
    },
  };
}

/** Operations' service (internal, callers: ops): no user token; the operations user's id is in the request. */
export function opsHandlers(bookings: BookingService): ServiceHandlers<typeof BookingOpsServiceService> {
  return {
    async searchAllBookings(request) {
      const page = await bookings.searchAllBookings({
        statuses: request.statuses.map((status) => statusFromProto(status, "statuses")),
        pickupCity: request.pickupCity,
        createdFrom: request.createdFrom,
        createdTo: request.createdTo,
        customerIds: request.customerIds,
        bookingId: request.bookingId,
        pageSize: request.page?.pageSize ?? 0,
        pageToken: request.page?.pageToken ?? "",
      });
      return {
        bookings: page.items.map((b) => bookingToProto(b, false)),
        page: { nextPageToken: page.nextPageToken },
      };
    },
    async getBookingHistory(request) {
      const { booking, history } = await bookings.bookingHistory(request.bookingId);
      return {
        booking: bookingToProto(booking, false),
        history: history.map(historyToProto),
        driverUserId: booking.driver_user_id ?? "",
      };
    },
    async cancelBookingByOps(request) {
      const { booking, previousStatus } = await bookings.cancelByOps(
        request.bookingId,
        request.opsUserId,
        request.reason,
      );
      return { booking: bookingToProto(booking, false), previousStatus: statusToProto(previousStatus) };
    },
    async getBookingFunnel(request) {
      const hours = await bookings.bookingFunnel(request.from!, request.to!);
      return {
        hours: hours.map((h) => ({
          hourStart: h.hour_start,
          ordersCreated: h.orders_created,
          bookingsCreated: h.bookings_created,
          assigned: h.assigned,
          completed: h.completed,
          expired: h.expired,
          cancelled: h.cancelled,
        })),
      };
    },
  };
}
