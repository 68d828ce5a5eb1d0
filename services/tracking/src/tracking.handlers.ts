/** gRPC handlers: proto ↔ domain, nothing else. */
import { countAvailableDrivers, type SupplyDeps } from "./supply.js";
import type { TrackingInternalServiceService } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import type { TrackingServiceService } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_service";
import { requirePrincipal, type CallContext, type ServiceHandlers } from "@weelo/grpc";
import type { DriverStream, DriverStreamRegistry } from "./driver-streams.js";
import type { TrackingService } from "./tracking.service.js";
import { LocationReader, type LocationReaderDeps } from "./location-reader.js";
import { toRawPoint, toRejections } from "./point-messages.js";
import type { TripEvents } from "./trip-events.js";
import type { BookingPath } from "./booking-path.js";
import type { FleetHub } from "./fleet-hub.js";
import { fleetWatchOf } from "./fleet.rules.js";

/** The ops console's reads: the fleet stream and any booking's breadcrumb. */
export interface OpsReads {
  fleet: Pick<FleetHub, "watch">;
  bookingPath(bookingId: string): Promise<BookingPath>;
}

/** Which fleet driver id the calling driver is (see driver-identity.ts). */
export type DriverResolver = (ctx: CallContext) => Promise<string>;

export interface HandlerDeps extends LocationReaderDeps {
  service: TrackingService;
  streams: DriverStreamRegistry;
  resolveDriver: DriverResolver;
  /** Called when a driver's stream opens here, before anything is read from it. */
  onStreamOpen?(driverId: string, stream: DriverStream): void;
}

export function trackingHandlers(deps: HandlerDeps): ServiceHandlers<typeof TrackingServiceService> {
  const { service, streams } = deps;
  return {
    async streamLocation(requests, ctx) {
      requirePrincipal(ctx, "driver");
      const driverId = await deps.resolveDriver(ctx);
      const stream = streams.open(driverId);
      deps.onStreamOpen?.(driverId, stream);
      new LocationReader(driverId, stream, deps).read(requests);
      return stream;
    },

    async updateLocation(request, ctx) {
      requirePrincipal(ctx, "driver");
      const driverId = await deps.resolveDriver(ctx);
      await deps.ready();
      const result = await service.ingest(driverId, request.points.map(toRawPoint));
      await result.durable;
      return { ackedSeq: result.ackedSeq, rejected: result.rejected, rejections: toRejections(result.rejections) };
    },

    async getLocation(request, ctx) {
      const principal = requirePrincipal(ctx, "customer", "transporter");
      return { position: await service.getLocation(principal, request.bookingId) };
    },

    async *watchLocation(request, ctx) {
      const principal = requirePrincipal(ctx, "customer", "transporter");
      for await (const position of service.watchLocation(principal, request.bookingId, ctx.signal)) yield { position };
    },

    async getTripPath(request, ctx) {
      const principal = requirePrincipal(ctx, "customer", "transporter");
      const path = await service.tripPath(principal, request.bookingId);
      return {
        points: path.points.map((p) => ({
          location: { lat: p.lat, lng: p.lng },
          recordedAt: p.recordedAt,
          speedMps: p.speedMps,
          heading: p.heading,
          seq: p.seq,
        })),
        distanceM: path.distanceM,
      };
    },
  };
}

export function internalHandlers(
  service: TrackingService,
  events: Pick<TripEvents, "checkArrival">,
  supply: SupplyDeps,
  ops: OpsReads,
): ServiceHandlers<typeof TrackingInternalServiceService> {
  return {
    async countAvailableDrivers(request) {
      const count = await countAvailableDrivers(supply, { cells: request.h3Cells, vehicleType: request.vehicleType });
      return { availableDrivers: count };
    },

    async getBookingPath(request) {
      const path = await ops.bookingPath(request.bookingId);
      return {
        points: path.points.map((p) => ({
          location: { lat: p.lat, lng: p.lng },
          recordedAt: p.recordedAt,
          speedMps: p.speedMps,
          heading: p.heading,
          seq: p.seq,
        })),
        distanceM: path.distanceM,
      };
    },

    async *watchFleetPositions(request, ctx) {
      const { box, minIntervalMs } = fleetWatchOf(request);
      yield* ops.fleet.watch(box, minIntervalMs, ctx.signal);
    },
    async checkArrival(request) {
      return events.checkArrival({
        bookingId: request.bookingId,
        driverId: request.driverId,
        stop: request.stop,
        stopLocation: request.stopLocation,
      });
    },

    async findNearbyDrivers(request) {
      const found = await service.findNearbyDrivers({
        lat: request.center?.lat ?? Number.NaN,
        lng: request.center?.lng ?? Number.NaN,
        radiusM: request.radiusM,
        vehicleType: request.vehicleType,
        limit: request.limit,
        onePerTransporter: request.onePerTransporter,
      });
      return {
        drivers: found.map((d) => ({
          driverId: d.driverId,
          transporterId: d.transporterId,
          vehicleId: d.vehicleId,
          vehicleType: d.vehicleType,
          location: { lat: d.lat, lng: d.lng },
          distanceM: d.distanceM,
          lastSeenAt: new Date(d.lastSeenAt),
        })),
      };
    },
  };
}
