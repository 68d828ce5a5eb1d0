/**
 * Wires the booking service into a process: its schema, the event stream and outbox relay,
 * the scheduler of scheduled broadcasts, registered on the shared gRPC server. Used by this
 * service's own main and by the all-in-one process alike.
 */
import { BookingDispatchServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_dispatch_service";
import { BookingOpsServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_ops_service";
import { BookingServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_service";
import { QuoteRedemptionServiceService } from "@weelo/contracts/grpc/weelo/pricing/v1/quote_redemption_service";
import { startOutboxRelay, type OutboxRelay } from "@weelo/outbox";
import type { Platform, Polling } from "@weelo/runtime";
import type { BookingConfig } from "./booking.config.js";
import { bookingHandlers, dispatchHandlers, opsHandlers } from "./booking.handlers.js";
import {
  createBookingService,
  type ArrivalCheck,
  type BookingService,
  type QuoteRedemption,
} from "./booking.service.js";
import type { BookingDatabase } from "./booking.table.js";
import { bookingMigrations } from "./migrations/index.js";
import { pricingQuotes } from "./pricing-quotes.js";

/** Scheduled bookings broadcast per transaction. */
const BROADCAST_BATCH = 100;

export interface BookingModuleOptions {
  /** The clock (tests move it). */
  now?: () => Date;
  /** Refuses AT_PICKUP / AT_DROPOFF away from the stop (tracking's CheckArrival). */
  arrivals?: ArrivalCheck;
  /** Redeems each order's quote; default: pricing's RedeemQuote at PRICING_GRPC_URL, else at `ownAddress`. */
  quotes?: QuoteRedemption;
  /** This process's mesh address (host:port), where pricing answers in the all-in-one; read on first call. */
  ownAddress?: () => string;
}

export interface BookingModule {
  service: BookingService;
  /** Publishes the outbox; stopped at shutdown. */
  relay: OutboxRelay;
  /** Broadcasts scheduled bookings when due; stopped at shutdown. */
  scheduler: Polling;
}

export async function startBooking(
  platform: Platform,
  config: BookingConfig,
  options: BookingModuleOptions = {},
): Promise<BookingModule> {
  const logger = platform.logger.child({ component: "booking" });
  const database = await platform.database<BookingDatabase>("booking", bookingMigrations);
  await platform.bus.ensureStream({
    name: config.BOOKING_STREAM,
    subjects: [`${config.BOOKING_SUBJECT_ROOT}.>`],
    maxAgeMs: config.BOOKING_STREAM_MAX_AGE_H * 3600 * 1000,
  });

  // Started after the database opened, so it stops (finishing its round) before the database closes.
  const relay = startOutboxRelay(platform, database.db, config, "booking");

  let quotes = options.quotes;
  if (!quotes) {
    const url = config.PRICING_GRPC_URL;
    const own = options.ownAddress ?? (() => `127.0.0.1:${config.MESH_PORT}`);
    quotes = pricingQuotes(platform.lazyMeshClient(QuoteRedemptionServiceService, url ? () => url : own, "booking"));
  }

  const service = createBookingService({
    db: database.db,
    bus: platform.bus,
    events: { subjectRoot: config.BOOKING_SUBJECT_ROOT, committed: () => relay.kick() },
    settings: {
      quoteToleranceM: config.QUOTE_LOCATION_TOLERANCE_M,
      cancellationFee: { percentBps: config.CANCEL_FEE_PERCENT_BPS, minPaise: config.CANCEL_FEE_MIN_PAISE },
      broadcastLeadMinutes: config.BROADCAST_LEAD_MINUTES,
      maxScheduleAheadDays: config.MAX_SCHEDULE_AHEAD_DAYS,
      watchPollMs: config.WATCH_POLL_MS,
      codeAttempts: { max: config.BOOKING_CODE_MAX_ATTEMPTS, lockMs: config.BOOKING_CODE_LOCK_MINUTES * 60_000 },
    },
    logger,
    quotes,
    ...(options.now ? { now: options.now } : {}),
    ...(options.arrivals ? { arrivals: options.arrivals } : {}),
  });

  // Every replica polls; the claim (FOR UPDATE SKIP LOCKED) lets each due booking go out once.
  // A round that broadcast any is followed at once by the next.
  const scheduler = platform.poll({
    name: "booking broadcast scheduler",
    everyMs: config.SCHEDULER_POLL_MS,
    jitter: 0.1,
    logger,
    task: async () => (await service.broadcastDue(BROADCAST_BATCH)) > 0,
  });

  platform.grpc
    .addService(BookingServiceService, bookingHandlers(service))
    // Internal (its proto names dispatch as the caller): served on the mesh listener only.
    .addService(BookingDispatchServiceService, dispatchHandlers(service))
    // Internal (callers: ops): the ops console service's reads and interventions.
    .addService(BookingOpsServiceService, opsHandlers(service));
  return { service, relay, scheduler };
}
