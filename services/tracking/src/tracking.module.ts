/**
 * Wires the tracking service into a process: its schema, the position store (Redis when
 * REDIS_URL is set, else in process), the breadcrumb writer, fleet's availability events,
 * the driver stream registry and the command fan-out, registered on the shared gRPC server.
 */
import { v7 as uuidv7 } from "uuid";
import { DriverCommand } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking";
import { TrackingInternalServiceService } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import { TrackingServiceService } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_service";
import type { Platform } from "@weelo/runtime";
import { Gauge } from "prom-client";
import { availabilitySink, subscribeAvailability, type AvailabilitySink } from "./availability.js";
import { BreadcrumbWriter } from "./breadcrumbs.js";
import { fleetDriverResolver, userIdResolver } from "./driver-identity.js";
import { DriverStreamRegistry } from "./driver-streams.js";
import { MemoryPositionStore, type PositionStore } from "./position-store.js";
import { RedisPositionStore } from "./redis-position-store.js";
import type { TrackingConfig } from "./tracking.config.js";
import { internalHandlers, PUBLIC_INTERNAL_METHODS, trackingHandlers, type DriverResolver } from "./tracking.handlers.js";
import { createTrackingService, type TrackingService } from "./tracking.service.js";
import type { TrackingDatabase } from "./tracking.table.js";
import { MemoryTripDirectory } from "./trip-directory.js";
import { trackingMigrations } from "./migrations/index.js";

export interface TrackingModuleOptions {
  /** Which driver id a call is; default: fleet at FLEET_GRPC_URL, else the token's user id. */
  resolveDriver?: DriverResolver;
  /** The position store; default: Redis when the cache is Redis, else in process. */
  store?: PositionStore;
  /** Clock (ms), for tests. */
  now?: () => number;
}

/** What a command send did. */
export type CommandDelivery = "queued" | "forwarded" | "overflow";

export interface DriverCommands {
  /**
   * Sends a command to a driver's open stream: queued on this process's stream, or forwarded
   * on the bus to whichever replica holds it ("forwarded" does not mean anyone holds it: a
   * driver who is not connected re-syncs from booking when reconnecting). "overflow": the
   * stream's queue was full and the stream was ended with RESOURCE_EXHAUSTED.
   */
  send(driverId: string, command: Omit<DriverCommand, "commandId" | "issuedAt"> & Partial<Pick<DriverCommand, "commandId" | "issuedAt">>): CommandDelivery;
  /** True when this process holds an open stream of the driver. */
  connectedHere(driverId: string): boolean;
}

export interface TrackingModule {
  service: TrackingService;
  commands: DriverCommands;
  /** Fed by booking/dispatch: start(...) when a driver is assigned, end(bookingId) when the trip is over. */
  trips: MemoryTripDirectory;
  /** Driver availability (fed by fleet's events; tests may call it directly). */
  availability: AvailabilitySink;
  store: PositionStore;
  streams: DriverStreamRegistry;
  writer: BreadcrumbWriter;
}

export async function startTracking(platform: Platform, config: TrackingConfig, options: TrackingModuleOptions = {}): Promise<TrackingModule> {
  const logger = platform.logger.child({ component: "tracking" });
  const database = await platform.database<TrackingDatabase>("tracking", trackingMigrations);
  const redis = platform.cache.redisClient();
  const store =
    options.store ??
    (redis
      ? new RedisPositionStore(redis, { keyPrefix: config.CACHE_KEY_PREFIX, resolution: config.TRACKING_H3_RES, ttlS: config.POSITION_TTL_S, staleAfterMs: config.STALE_AFTER_S * 1000 })
      : new MemoryPositionStore(config.TRACKING_H3_RES));

  const writer = new BreadcrumbWriter({
    db: database.db,
    logger: logger.child({ component: "breadcrumbs" }),
    flushMs: config.BREADCRUMB_FLUSH_MS,
    batchSize: config.BREADCRUMB_BATCH_SIZE,
    maxPending: config.BREADCRUMB_MAX_PENDING,
  });
  // Registered after the database: runs before it closes, after the gRPC server stopped taking points.
  platform.onShutdown("tracking breadcrumbs", () => writer.close());

  const trips = new MemoryTripDirectory({ onChange: (trip, active) => store.setOnTrip(trip.driverId, active) });
  const service = createTrackingService({
    db: database.db,
    store,
    trips,
    writer,
    bus: platform.bus,
    logger,
    registry: platform.metrics.registry,
    limits: {
      maxClockSkewMs: config.MAX_CLOCK_SKEW_S * 1000,
      maxPointAgeMs: config.MAX_POINT_AGE_S * 1000,
      maxAccuracyM: config.MAX_ACCURACY_M,
      maxSpeedKmph: config.MAX_TRUCK_SPEED_KMPH,
      jitterM: config.JITTER_M,
    },
    subjectRoot: config.TRACKING_SUBJECT_ROOT,
    staleAfterMs: config.STALE_AFTER_S * 1000,
    maxNearbyRadiusM: config.MAX_NEARBY_RADIUS_M,
    maxNearbyLimit: config.MAX_NEARBY_LIMIT,
    maxPointsPerMessage: config.MAX_POINTS_PER_MESSAGE,
    watchMaxPending: config.WATCH_MAX_PENDING,
    ...(options.now ? { now: options.now } : {}),
  });
  platform.onShutdown("tracking service", async () => service.close());

  const availability = availabilitySink(store);
  const availabilitySubscription = subscribeAvailability(platform.bus, config.FLEET_SUBJECT_ROOT, availability, logger);
  platform.onShutdown("tracking availability", async () => availabilitySubscription.unsubscribe());

  const streams = new DriverStreamRegistry(config.STREAM_MAX_PENDING_COMMANDS);
  new Gauge({
    name: "weelo_tracking_driver_streams",
    help: "Open StreamLocation streams in this process.",
    registers: [platform.metrics.registry],
    collect() {
      this.set(streams.size);
    },
  });
  const commandSubject = (driverId: string) => `${config.TRACKING_SUBJECT_ROOT}.command.${driverId}`;
  const commandSubscription = platform.bus.subscribe(`${config.TRACKING_SUBJECT_ROOT}.command.*`, (msg) => {
    const driverId = msg.subject.slice(msg.subject.lastIndexOf(".") + 1);
    streams.get(driverId)?.pushCommand(DriverCommand.decode(msg.data));
  });
  platform.onShutdown("tracking commands", async () => commandSubscription.unsubscribe());
  const commands: DriverCommands = {
    send(driverId, partial) {
      const command: DriverCommand = { ...partial, commandId: partial.commandId ?? uuidv7(), issuedAt: partial.issuedAt ?? new Date() };
      const local = streams.get(driverId);
      if (local) return local.pushCommand(command) ? "queued" : "overflow";
      platform.bus.publish(commandSubject(driverId), DriverCommand.encode(command).finish());
      return "forwarded";
    },
    connectedHere: (driverId) => streams.get(driverId) !== undefined,
  };

  let resolveDriver = options.resolveDriver;
  if (!resolveDriver) {
    if (config.FLEET_GRPC_URL) {
      const fleet = fleetDriverResolver(config.FLEET_GRPC_URL, { deadlineMs: config.GRPC_DEADLINE_MS, metrics: platform.metrics });
      platform.onShutdown("tracking fleet client", async () => fleet.close());
      resolveDriver = fleet.resolve;
    } else {
      logger.warn("FLEET_GRPC_URL is unset: a driver's user id stands for the fleet driver id");
      resolveDriver = userIdResolver();
    }
  }

  platform.grpc
    .addService(
      TrackingServiceService,
      trackingHandlers({ service, streams, resolveDriver, maxInFlight: config.STREAM_MAX_IN_FLIGHT, ready: () => writer.ready() }),
    )
    .addService(TrackingInternalServiceService, internalHandlers(service), { publicMethods: PUBLIC_INTERNAL_METHODS });
  return { service, commands, trips, availability, store, streams, writer };
}
