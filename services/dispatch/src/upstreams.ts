/**
 * The services dispatch calls: booking (its internal BookingDispatchService), tracking
 * (FindNearbyDrivers) and fleet (FleetDirectoryService). Mesh clients over the network, or,
 * in the all-in-one process, clients of the process's own mesh port made on first use.
 */
import type { BookingDispatchServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_dispatch_service";
import type { FleetDirectoryServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/fleet_directory_service";
import type { TrackingInternalServiceService } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import type { ServiceClient } from "@weelo/grpc";

export interface DispatchUpstreams {
  booking: Pick<
    ServiceClient<typeof BookingDispatchServiceService>,
    "confirmBooking" | "assignBooking" | "reopenBooking" | "expireBooking" | "reassignBooking"
  >;
  tracking: Pick<ServiceClient<typeof TrackingInternalServiceService>, "findNearbyDrivers">;
  fleet: Pick<ServiceClient<typeof FleetDirectoryServiceService>, "findServingTransporters" | "getDriverAndVehicle">;
}
