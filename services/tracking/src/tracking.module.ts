/**
 * Wires the tracking service into a process: its schema, the position store (Redis when
 * REDIS_URL is set, else in process), the breadcrumb writer, fleet's availability events,
 * the trips fed by booking's events, tracking's own events (geofences, driver_dark) through
 * an outbox, the driver stream registry (drained at shutdown) and the command fan-out,
 * registered on the shared gRPC server.
 */
import { v7 as uuidv7 } from "uuid";
import { TripStop } from "@weelo/contracts/grpc/weelo/tracking/v1/events";
import { DriverCommand } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking";
import { DriverServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/driver_service";
import { FleetDirectoryServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/fleet_directory_service";
import { TrackingInternalServiceService } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import { TrackingServiceService } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_service";
import { startOutboxRelay, type OutboxRelay } from "@weelo/outbox";
import type { Platform } from "@weelo/runtime";
import { Gauge } from "prom-client";
import { availabilitySink, subscribeAvailability, type AvailabilitySink } from "./availability.js";
import { type OnlineDriverSource, StoreResync } from "./store-resync.js";
import { BreadcrumbWriter } from "./breadcrumbs.js";
import { bookingPath } from "./booking-path.js";
import { createFleetHub, type FleetHub } from "./fleet-hub.js";
import { fleetDriverResolver, userIdResolver } from "./driver-identity.js";
import { DriverStreamRegistry } from "./driver-streams.js";
import { MemoryPositionStore, type PositionStore } from "./position-store.js";
import { RedisPositionStore } from "./redis-position-store.js";
import type { TrackingConfig } from "./tracking.config.js";
import { internalHandlers, trackingHandlers, type DriverResolver } from "./tracking.handlers.js";
import { createTrackingService, type TrackingService } from "./tracking.service.js";
import type { TrackingDatabase } from "./tracking.table.js";
import { TripDirectory } from "./trip-directory.js";
import { assignmentCommand, greetingCommands, takenAwayCommand } from "./driver-greeting.js";
import { lastDriverNotice } from "./driver-notices.repository.js";
import { TripEvents, trackingEventSubjects } from "./trip-events.js";
import { TripFeed } from "./trip-feed.js";
import { trackingMigrations } from "./migrations/index.js";

export interface TrackingModuleOptions {
  /** Which driver id a call is; default: fleet at FLEET_GRPC_URL, else the token's user id. */
  resolveDriver?: DriverResolver;
  /** The position store; default: Redis when the cache is Redis, else in process. */
  store?: PositionStore;
  /**
   * Fleet's drivers online or on a trip, to rebuild a Redis position store that lost its data;
   * default: fleet at FLEET_GRPC_URL (without either, a lost store fills again only as drivers
   * change availability).
   */
  onlineDrivers?: OnlineDriverSource;
  /** Clock (ms), for tests. */
  now?: () => number;
}

/** What a command send did. */
export type CommandDelivery = "queued" | "forwarded" | "overflow";

export interface DriverCommands {
  /**
   * Sends a command to a driver's open stream: queued on this process's stream, or forwarded
   * on the bus to whichever replica holds it ("forwarded" does not mean anyone holds it: a
   * driver who is not connected hears of their trip, and of the last one taken away from them,
   * when their stream opens). "overflow": the stream's queue was full and the stream was ended
   * with RESOURCE_EXHAUSTED.
   */
  send(
    driverId: string,
    command: Omit<DriverCommand, "commandId" | "issuedAt"> & Partial<Pick<DriverCommand, "commandId" | "issuedAt">>,
  ): CommandDelivery;
  /** True when this process holds an open stream of the driver. */
  connectedHere(driverId: string): boolean;
}

/** Whether a trip's driver is at a stop: resolves, or throws FAILED_PRECONDITION saying how far they are. */
export interface ArrivalChecker {
  check(input: {
    bookingId: string;
    driverId: string;
    stop: "pickup" | "drop";
    stopLocation: { lat: number; lng: number };
  }): Promise<void>;
}

export interface TrackingModule {
  service: TrackingService;
  commands: DriverCommands;
  /** Which driver is on which booking (this replica's copy of the trips table). */
  trips: TripDirectory;
  /** Feeds `trips` from booking's events. */
  feed: TripFeed;
  /** Geofences, driver_dark and the arrival check. */
  events: TripEvents;
  /** Publishes tracking's events from its outbox. */
  relay: OutboxRelay;
  /** Booking's arrival check in this process (the same rule as TrackingInternalService.CheckArrival). */
  arrivals: ArrivalChecker;
  /** Driver availability (fed by fleet's events; tests may call it directly). */
  availability: AvailabilitySink;
  store: PositionStore;
  streams: DriverStreamRegistry;
  writer: BreadcrumbWriter;
  /** The ops console's fleet stream (WatchFleetPositions) on this replica. */
  fleet: FleetHub;
  /** The rebuild of a Redis store that lost its data (store-resync.ts); undefined without one. */
  storeResync: StoreResync | undefined;
}

export async function startTracking(
  platform: Platform,
  config: TrackingConfig,
  options: TrackingModuleOptions = {},
): Promise<TrackingModule> {
  const logger = platform.logger.child({ component: "tracking" });
  const database = await platform.database<TrackingDatabase>("tracking", trackingMigrations);
  const redis = platform.cache.redisClient();
  const store =
    options.store ??
    (redis
      ? new RedisPositionStore(redis, {
          keyPrefix: config.CACHE_KEY_PREFIX,
          resolution: config.TRACKING_H3_RES,
          ttlS: config.POSITION_TTL_S,
          staleAfterMs: config.STALE_AFTER_S * 1000,
        })
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

  const subjects = trackingEventSubjects(config.TRACKING_SUBJECT_ROOT);
  // Only the event subjects: the core location and command subjects must never be stored.
  await platform.bus.ensureStream({
    name: config.TRACKING_STREAM,
    subjects: [subjects.arriving, subjects.arrived, subjects.dark],
    maxAgeMs: config.TRACKING_STREAM_MAX_AGE_H * 3600 * 1000,
  });
  // Started after the database opened, so it stops (finishing its round) before the database closes.
  const relay = startOutboxRelay(platform, database.db, config, "tracking");

  // `trips` is defined below; the hub reads it only once a console watches.
  const fleet = createFleetHub({
    bus: platform.bus,
    store,
    trips: { activeOf: (driverId) => trips.activeOf(driverId) },
    logger: logger.child({ component: "fleet" }),
    registry: platform.metrics.registry,
    subjectRoot: config.TRACKING_SUBJECT_ROOT,
    staleAfterMs: config.STALE_AFTER_S * 1000,
    batchMs: config.FLEET_BATCH_MS,
    maxPending: config.FLEET_WATCH_MAX_PENDING,
    stallMs: config.FLEET_WATCH_STALL_MS,
    ...(options.now ? { now: options.now } : {}),
  });
  platform.onShutdown("tracking fleet stream", async () => fleet.close());
  const trips = new TripDirectory({
    onChange: async (trip, active) => {
      await store.setOnTrip(trip.driverId, active);
      fleet.tripChanged(trip);
    },
  });
  const feed = new TripFeed({
    db: database.db,
    bus: platform.bus,
    directory: trips,
    logger: logger.child({ component: "trips" }),
    bookingStream: config.BOOKING_STREAM,
    bookingSubjectRoot: config.BOOKING_SUBJECT_ROOT,
    durable: config.TRIPS_CONSUMER,
    trackingSubjectRoot: config.TRACKING_SUBJECT_ROOT,
    reloadMs: config.TRIP_RELOAD_S * 1000,
    // `commands` is defined below; the feed starts (and may call this) only after it.
    tellDriver: (driverId, notice) => {
      commands.send(driverId, notice.kind === "assigned" ? assignmentCommand(notice.trip) : takenAwayCommand(notice));
    },
    ...(options.now ? { now: options.now } : {}),
  });
  const events = new TripEvents({
    db: database.db,
    relay,
    feed,
    directory: trips,
    store,
    cache: platform.cache,
    logger: logger.child({ component: "trip-events" }),
    registry: platform.metrics.registry,
    subjectRoot: config.TRACKING_SUBJECT_ROOT,
    arrivingM: config.GEOFENCE_ARRIVING_M,
    arrivedM: config.GEOFENCE_ARRIVED_M,
    darkAfterMs: config.DRIVER_DARK_AFTER_S * 1000,
    darkCheckMs: config.DRIVER_DARK_CHECK_S * 1000,
    ...(options.now ? { now: options.now } : {}),
  });
  new Gauge({
    name: "weelo_tracking_active_trips",
    help: "Trips with a driver on them, as this process knows them.",
    registers: [platform.metrics.registry],
    collect() {
      this.set(trips.activeCount);
    },
  });
  const service = createTrackingService({
    db: database.db,
    store,
    trips,
    lookupTrip: (bookingId) => feed.lookup(bookingId),
    onTripPoints: (trip, accepted) => events.onTripPoints(trip, accepted),
    onDriverSeen: (driverId, latest, at) => fleet.publish(driverId, latest, at),
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
  platform.onShutdown("tracking service", () => service.close());

  const stored = availabilitySink(store);
  const availability: AvailabilitySink = {
    async apply(driverId, value, sequence) {
      await stored.apply(driverId, value, sequence);
      fleet.availabilityChanged(driverId, value);
    },
  };
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
  // At the start of a shutdown: every driver stream gets its acks, a ReconnectCommand, then OK.
  platform.onDrain("tracking driver streams", () => streams.drainAll(config.RECONNECT_SPREAD_MS));
  const commands: DriverCommands = {
    send(driverId, partial) {
      const command: DriverCommand = {
        ...partial,
        commandId: partial.commandId ?? uuidv7(),
        issuedAt: partial.issuedAt ?? new Date(),
      };
      const local = streams.get(driverId);
      if (local) return local.pushCommand(command) ? "queued" : "overflow";
      platform.bus.publish(commandSubject(driverId), DriverCommand.encode(command).finish());
      return "forwarded";
    },
    connectedHere: (driverId) => streams.get(driverId) !== undefined,
  };

  // Once commands can be sent: the feed tells drivers of trips taken away.
  await feed.start();
  platform.onShutdown("tracking trips feed", () => feed.stop());
  events.startDarkWatch();
  platform.onShutdown("tracking trip events", () => events.close());

  // A Redis store that lost its data (a restart: it keeps nothing on disk) is rebuilt from fleet.
  let onlineDrivers = options.onlineDrivers;
  if (!onlineDrivers && config.FLEET_GRPC_URL) {
    const directory = platform.meshClient(FleetDirectoryServiceService, config.FLEET_GRPC_URL, "tracking");
    platform.onShutdown("tracking fleet directory client", async () => directory.close());
    onlineDrivers = directory;
  }
  let storeResync: StoreResync | undefined;
  if (redis && !options.store && onlineDrivers && config.POSITION_STORE_CHECK_S > 0) {
    const markerKey = `${config.CACHE_KEY_PREFIX}tracking:marker`;
    const resync = new StoreResync({
      claimMarker: async () => (await redis.set(markerKey, String(Date.now()), "NX")) === "OK",
      fleet: onlineDrivers,
      availability: { apply: availability.apply, forget: () => stored.forget() },
      driversOnTrips: () => [...trips.activeTrips()].map((trip) => trip.driverId),
      setOnTrip: (driverId, onTrip) => store.setOnTrip(driverId, onTrip),
      logger: logger.child({ component: "store-resync" }),
      checkEveryMs: config.POSITION_STORE_CHECK_S * 1000,
    });
    resync.start();
    storeResync = resync;
    platform.onShutdown("tracking store resync", () => resync.stop());
  }

  let resolveDriver = options.resolveDriver;
  if (!resolveDriver) {
    if (config.FLEET_GRPC_URL) {
      const fleet = fleetDriverResolver(platform.meshClient(DriverServiceService, config.FLEET_GRPC_URL, "tracking"));
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
      trackingHandlers({
        service,
        streams,
        resolveDriver,
        maxInFlight: config.STREAM_MAX_IN_FLIGHT,
        ready: () => writer.ready(),
        accepting: () => writer.accepting,
        // A driver (re)connecting catches up: the last trip taken away from them (cancelled or
        // reopened while the app was offline), then the trip they are on (assigned while offline,
        // or a command lost with a broker). The app knows both by booking id and command id.
        // Commands sent live meanwhile wait behind these (holdCommands), so the order holds.
        onStreamOpen: (driverId, stream) => {
          stream.holdCommands();
          void lastDriverNotice(database.db, driverId)
            .catch((error: unknown) => {
              logger.warn({ err: error, driverId }, "could not read the driver's last notice; telling only the trip");
              return undefined;
            })
            .then((last) => stream.tellFirst(greetingCommands(trips.activeOf(driverId), last)));
        },
      }),
    )
    .addService(
      TrackingInternalServiceService,
      internalHandlers(
        service,
        events,
        {
          store,
          resolution: config.TRACKING_H3_RES,
          staleAfterMs: config.STALE_AFTER_S * 1000,
          ...(options.now ? { now: options.now } : {}),
        },
        { fleet, bookingPath: (bookingId) => bookingPath(database.db, bookingId) },
      ),
    );
  const arrivals: ArrivalChecker = {
    async check({ bookingId, driverId, stop, stopLocation }) {
      await events.checkArrival({
        bookingId,
        driverId,
        stop: stop === "pickup" ? TripStop.TRIP_STOP_PICKUP : TripStop.TRIP_STOP_DROP,
        stopLocation,
      });
    },
  };
  return {
    service,
    commands,
    trips,
    feed,
    events,
    relay,
    arrivals,
    availability,
    store,
    streams,
    writer,
    fleet,
    storeResync,
  };
}
