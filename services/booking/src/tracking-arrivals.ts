/**
 * The arrival check of booking running alone: tracking's TrackingInternalService.CheckArrival
 * over the mesh (TRACKING_GRPC_URL). Its FAILED_PRECONDITION ("driver is 2.3 km from the pickup;
 * arrive within 100 m") comes back as the same DomainError and reaches the driver unchanged.
 */
import { TripStop } from "@weelo/contracts/grpc/weelo/tracking/v1/events";
import type { TrackingInternalServiceService } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import type { ServiceClient } from "@weelo/grpc";
import type { ArrivalCheck } from "./booking.context.js";

export function trackingArrivals(
  tracking: ServiceClient<typeof TrackingInternalServiceService>,
): ArrivalCheck & { close(): void } {
  return {
    async check({ bookingId, driverId, stop, stopLocation }) {
      await tracking.checkArrival({
        bookingId,
        driverId,
        stop: stop === "pickup" ? TripStop.TRIP_STOP_PICKUP : TripStop.TRIP_STOP_DROP,
        stopLocation,
      });
    },
    close: () => tracking.close(),
  };
}
