/**
 * The services dispatch calls: booking (its internal BookingDispatchService), tracking
 * (FindNearbyDrivers) and fleet (FleetDirectoryService). Mesh clients over the network, or,
 * in the all-in-one process, clients of the process's own mesh port made on first use.
 */
import { BookingDispatchServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_dispatch_service";
import { FleetDirectoryServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/fleet_directory_service";
import { TrackingInternalServiceService } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import type { ServiceClient, ServiceDefinition } from "@weelo/grpc";

export interface DispatchUpstreams {
  booking: Pick<
    ServiceClient<typeof BookingDispatchServiceService>,
    "confirmBooking" | "assignBooking" | "reopenBooking" | "expireBooking"
  >;
  tracking: Pick<ServiceClient<typeof TrackingInternalServiceService>, "findNearbyDrivers">;
  fleet: Pick<ServiceClient<typeof FleetDirectoryServiceService>, "findServingTransporters" | "getDriverAndVehicle">;
}

export interface UpstreamAddresses {
  booking: () => string;
  tracking: () => string;
  fleet: () => string;
}

/** gRPC clients, each made on its first call (so an address known only after listen works), closed by close(). */
export function grpcUpstreams(
  addresses: UpstreamAddresses,
  connect: <D extends ServiceDefinition>(definition: D, address: string) => ServiceClient<D>,
): DispatchUpstreams & { close(): void } {
  const made: { close(): void }[] = [];
  function lazy<D extends ServiceDefinition>(definition: D, address: () => string): ServiceClient<D> {
    let client: ServiceClient<D> | undefined;
    const get = () => {
      if (!client) {
        client = connect(definition, address());
        made.push(client);
      }
      return client;
    };
    return new Proxy({} as ServiceClient<D>, {
      get: (_target, key) => (get() as Record<string | symbol, unknown>)[key],
    });
  }
  return {
    booking: lazy(BookingDispatchServiceService, addresses.booking),
    tracking: lazy(TrackingInternalServiceService, addresses.tracking),
    fleet: lazy(FleetDirectoryServiceService, addresses.fleet),
    close: () => {
      for (const c of made) c.close();
    },
  };
}
