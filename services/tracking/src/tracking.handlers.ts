/** gRPC handlers: proto ↔ domain, nothing else. */
import {
  PointRejection,
  type LocationPoint,
  type RejectedPoint,
} from "@weelo/contracts/grpc/weelo/tracking/v1/tracking";
import { countAvailableDrivers, type SupplyDeps } from "./supply.js";
import type { TrackingInternalServiceService } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import type {
  StreamLocationRequest,
  TrackingServiceService,
} from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_service";
import { requirePrincipal, type CallContext, type ServiceHandlers } from "@weelo/grpc";
import type { DriverStream, DriverStreamRegistry } from "./driver-streams.js";
import type { TrackingService } from "./tracking.service.js";
import type { RawPoint, Rejection } from "./tracking.rules.js";
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

export interface HandlerDeps {
  service: TrackingService;
  streams: DriverStreamRegistry;
  resolveDriver: DriverResolver;
  /** Messages of one stream read but not yet acked before reading pauses. */
  maxInFlight: number;
  /** Resolves when the breadcrumb pipeline can take more (backpressure). */
  ready(): Promise<void>;
  /** True when ready() would resolve at once. */
  accepting(): boolean;
  /** Called when a driver's stream opens here, before anything is read from it. */
  onStreamOpen?(driverId: string, stream: DriverStream): void;
}

/**
 * The requests of a bidirectional call, read without destroying the call when the reading
 * stops: a Node stream's own async iterator destroys the whole duplex when the loop ends (a
 * half-close, or a break while draining), which would also cut the responses still to come.
 */
function keepWritable<T>(requests: AsyncIterable<T>): AsyncIterable<T> {
  const readable = requests as AsyncIterable<T> & {
    iterator?: (options: { destroyOnReturn: boolean }) => AsyncIterableIterator<T>;
  };
  if (typeof readable.iterator !== "function") return requests;
  const iterator = readable.iterator({ destroyOnReturn: false });
  return { [Symbol.asyncIterator]: () => iterator };
}

export function toRawPoint(p: LocationPoint): RawPoint {
  return {
    seq: p.seq,
    recordedAt: p.recordedAt ? p.recordedAt.getTime() : undefined,
    lat: p.lat,
    lng: p.lng,
    accuracyM: p.accuracyM,
    speedMps: p.speedMps,
    heading: p.heading,
  };
}

const REJECTION: Record<Rejection, PointRejection> = {
  invalid: PointRejection.POINT_REJECTION_INVALID_COORDINATES,
  null_island: PointRejection.POINT_REJECTION_NULL_ISLAND,
  missing_time: PointRejection.POINT_REJECTION_MISSING_TIME,
  future: PointRejection.POINT_REJECTION_FUTURE,
  too_old: PointRejection.POINT_REJECTION_TOO_OLD,
  inaccurate: PointRejection.POINT_REJECTION_INACCURATE,
  invalid_accuracy: PointRejection.POINT_REJECTION_INVALID_ACCURACY,
  invalid_speed: PointRejection.POINT_REJECTION_INVALID_SPEED,
  invalid_heading: PointRejection.POINT_REJECTION_INVALID_HEADING,
  impossible_jump: PointRejection.POINT_REJECTION_IMPOSSIBLE_JUMP,
};

/** Each rejected point of an ingest, with its reason, as the ack tells it. */
export function toRejections(rejections: readonly { seq: number; reason: Rejection }[]): RejectedPoint[] {
  return rejections.map(({ seq, reason }) => ({ seq, reason: REJECTION[reason] }));
}

export function trackingHandlers(deps: HandlerDeps): ServiceHandlers<typeof TrackingServiceService> {
  const { service, streams } = deps;
  return {
    async *streamLocation(requests: AsyncIterable<StreamLocationRequest>, ctx: CallContext) {
      requirePrincipal(ctx, "driver");
      const driverId = await deps.resolveDriver(ctx);
      const stream = streams.open(driverId);
      deps.onStreamOpen?.(driverId, stream);
      let acks: Promise<void> = Promise.resolve();
      let ingesting: Promise<unknown> = Promise.resolve();
      // A drain waits until every message read so far has its ack queued.
      stream.onAcksSettled(async () => {
        for (;;) {
          const [a, i] = [acks, ingesting];
          await i.catch(() => undefined);
          await a;
          if (a === acks && i === ingesting) return;
        }
      });
      const reading = (async () => {
        let inFlight = 0;
        for await (const request of keepWritable(requests)) {
          if (stream.closed || stream.isDraining) break;
          if (!deps.accepting()) await deps.ready();
          // Read but not taken while draining: never acked, so the app re-sends it elsewhere.
          if (stream.closed || stream.isDraining) break;
          const ingest = service.ingest(driverId, request.points.map(toRawPoint));
          ingesting = ingest;
          const result = await ingest;
          inFlight += 1;
          acks = acks
            .then(() => result.durable)
            .then(
              () => stream.pushAck(result.ackedSeq, result.rejected, toRejections(result.rejections)),
              (error: unknown) => stream.fail(error as Error),
            )
            .finally(() => {
              inFlight -= 1;
            });
          if (inFlight >= deps.maxInFlight) await acks;
        }
        // The app half-closed (or the stream ended): its last acks still go out, and the
        // stream stays open for commands until the app cancels, a newer stream replaces it,
        // or the server drains.
        await acks;
      })();
      reading.catch((error: unknown) => stream.fail(error as Error));
      try {
        yield* stream.messages(ctx.signal);
      } finally {
        streams.remove(stream);
        stream.end();
      }
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
