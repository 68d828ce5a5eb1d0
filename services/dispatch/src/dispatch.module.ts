/**
 * Wires the dispatch service into a process: its schema, its event stream and outbox relay,
 * the consumer of booking's events, the timer poller, the presence of WatchOffers streams,
 * registered on the shared gRPC server. Used by this service's own main and by the all-in-one
 * process alike.
 */
import { DispatchOpsServiceService } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch_ops_service";
import { DispatchServiceService } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch_service";
import { startOutboxRelay, type OutboxRelay } from "@weelo/outbox";
import type { Platform } from "@weelo/runtime";
import { Gauge } from "prom-client";
import type { PendingConsumer } from "@weelo/bus";
import { bookingEventHandler, consumeBookingEvents, runDueTimers } from "./background.js";
import type { DispatchConfig } from "./dispatch.config.js";
import { streamSubjects } from "./dispatch.events.js";
import { dispatchHandlers, opsHandlers } from "./dispatch.handlers.js";
import { wavePlan } from "./dispatch.rules.js";
import { createDispatchService, type DispatchService } from "./dispatch.service.js";
import type { DispatchDatabase } from "./dispatch.table.js";
import { dispatchMigrations } from "./migrations/index.js";
import { TransporterPresence } from "./presence.js";
import { BookingDispatchServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_dispatch_service";
import { FleetDirectoryServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/fleet_directory_service";
import { TrackingInternalServiceService } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import type { DispatchUpstreams } from "./upstreams.js";

export interface DispatchModuleOptions {
  /** The services dispatch calls; default: mesh clients of *_GRPC_URL, else of `ownAddress` (the all-in-one's mesh port). */
  upstreams?: DispatchUpstreams;
  /** This process's gRPC address (host:port), for upstreams hosted here (all-in-one); read on first call. */
  ownAddress?: () => string;
  /** The clock (tests move it). */
  now?: () => Date;
}

export interface DispatchModule {
  service: DispatchService;
  relay: OutboxRelay;
  /** Resolves once the consumer of booking's events runs (it starts when the process listens). */
  consuming: Promise<void>;
}

export async function startDispatch(
  platform: Platform,
  config: DispatchConfig,
  options: DispatchModuleOptions = {},
): Promise<DispatchModule> {
  const logger = platform.logger.child({ component: "dispatch" });
  const database = await platform.database<DispatchDatabase>("dispatch", dispatchMigrations);
  await platform.bus.ensureStream({
    name: config.DISPATCH_STREAM,
    subjects: streamSubjects(config.DISPATCH_SUBJECT_ROOT),
    maxAgeMs: config.DISPATCH_STREAM_MAX_AGE_H * 3600 * 1000,
  });

  // Started after the database opened, so it stops (finishing its round) before the database closes.
  const relay = startOutboxRelay(platform, database.db, config, "dispatch");

  let upstreams = options.upstreams;
  if (!upstreams) {
    const own = options.ownAddress ?? (() => `127.0.0.1:${config.MESH_PORT}`);
    const address = (url: string | undefined) => () => url ?? own();
    upstreams = {
      booking: platform.lazyMeshClient(BookingDispatchServiceService, address(config.BOOKING_GRPC_URL), "dispatch"),
      tracking: platform.lazyMeshClient(TrackingInternalServiceService, address(config.TRACKING_GRPC_URL), "dispatch"),
      fleet: platform.lazyMeshClient(FleetDirectoryServiceService, address(config.FLEET_GRPC_URL), "dispatch"),
    };
  }

  const presence = new TransporterPresence(platform.cache, config.PRESENCE_TTL_MS, logger);
  platform.onShutdown("dispatch presence", () => presence.close());
  new Gauge({
    name: "weelo_dispatch_watch_streams",
    help: "Open WatchOffers streams in this process.",
    registers: [platform.metrics.registry],
    collect() {
      this.set(presence.size);
    },
  });

  // Streams end when shutdown begins, so the server does not wait on them; apps reconnect to another replica.
  const closing = new AbortController();
  platform.onDrain("dispatch watch streams", async () => closing.abort());

  const service = createDispatchService({
    closing: closing.signal,
    db: database.db,
    bus: platform.bus,
    upstreams,
    presence,
    events: { subjectRoot: config.DISPATCH_SUBJECT_ROOT, committed: () => relay.kick() },
    settings: {
      plan: wavePlan(config.WAVE_RADII_KM, config.WAVE_DURATION_MS),
      gatherMs: config.ORDER_GATHER_MS,
      maxOffersPerWave: config.MAX_OFFERS_PER_WAVE,
      assignDeadlineMs: config.ASSIGN_DEADLINE_MS,
      leaseMs: config.CLAIM_LEASE_MS,
      bookingCallRetryMs: config.BOOKING_CALL_RETRY_MS,
      watchResyncMs: config.WATCH_RESYNC_MS,
    },
    logger,
    registry: platform.metrics.registry,
    ...(options.now ? { now: options.now } : {}),
  });

  // The poller and the consumer start once this process listens: their work calls booking,
  // tracking and fleet, which in the all-in-one are reached through this process's own mesh port,
  // known only then (a wave due at start would otherwise search before anyone can answer).
  let consumer: PendingConsumer | undefined;
  let stopped = false;
  const background = platform.grpc.listening.then(() => {
    if (stopped) return;
    // A round that claimed work is followed at once by the next; failing rounds back off (up to 20 pauses).
    // platform.poll stops it at shutdown (registered now, so it stops before the database closes).
    platform.poll({
      name: "dispatch timers",
      everyMs: config.TIMER_POLL_MS,
      maxBackoff: 20,
      logger,
      task: async () => (await runDueTimers(service)) > 0,
    });
    consumer = consumeBookingEvents(platform.bus, {
      stream: config.BOOKING_STREAM,
      durable: config.DISPATCH_CONSUMER,
      bookingRoot: config.BOOKING_SUBJECT_ROOT,
      concurrency: config.DISPATCH_CONSUMER_CONCURRENCY,
      handler: bookingEventHandler(service, config.BOOKING_SUBJECT_ROOT, logger),
      logger,
    });
  });
  platform.onShutdown("dispatch booking consumer", async () => {
    stopped = true;
    await consumer?.stop();
  });

  platform.grpc
    .addService(DispatchServiceService, dispatchHandlers(service))
    // Internal (callers: ops): the ops console service's views and interventions.
    .addService(DispatchOpsServiceService, opsHandlers(service));
  return { service, relay, consuming: background.then(() => consumer?.ready) };
}
