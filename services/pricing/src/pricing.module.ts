/**
 * Wires the pricing service into a process: its schema (with the seeded catalog), the
 * catalog cache, road routing behind a guard, the surge inputs fed from the bus, the quote
 * limit, and the periodic purge of old quotes, registered on the shared gRPC server. Used by
 * this service's own main and by the all-in-one process alike.
 */
import { PricingServiceService } from "@weelo/contracts/grpc/weelo/pricing/v1/pricing_service";
import { TrackingInternalServiceService } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import { QuoteRedemptionServiceService } from "@weelo/contracts/grpc/weelo/pricing/v1/quote_redemption_service";
import { createGuard, createRateLimiter } from "@weelo/resilience";
import type { Platform } from "@weelo/runtime";
import type { PricingConfig } from "./pricing.config.js";
import { pricingHandlers, PUBLIC_PRICING_METHODS, redemptionHandlers } from "./pricing.handlers.js";
import * as repo from "./pricing.repository.js";
import { parseClockTime } from "./pricing.rules.js";
import { createPricingService, type PricingService } from "./pricing.service.js";
import type { PricingDatabase } from "./pricing.table.js";
import { pricingMigrations } from "./migrations/index.js";
import { createDistanceProvider } from "./routing/distance.js";
import { OsrmClient } from "./routing/osrm-client.js";
import { subscribeSurgeEvents } from "./surge/surge-events.js";
import { InMemorySurgeInputs, type SurgeInputs } from "./surge/surge-inputs.js";
import { DemandAndSupplyInputs, trackingSupply } from "./surge/tracking-supply.js";
import { VehicleCatalog } from "./vehicle-catalog.js";

export interface PricingModuleOptions {
  /** Where live demand and supply come from; by default demand from booking's events, supply from tracking. */
  surgeInputs?: SurgeInputs;
  /** This process's mesh address, for tracking when TRACKING_GRPC_URL is unset (the all-in-one, known once it listens). */
  ownAddress?: () => string;
  /** The clock (tests move it). */
  now?: () => Date;
}

/** How often old quotes are purged. */
const PURGE_EVERY_MS = 10 * 60_000;

export async function startPricing(
  platform: Platform,
  config: PricingConfig,
  options: PricingModuleOptions = {},
): Promise<PricingService> {
  const logger = platform.logger.child({ component: "pricing" });
  const database = await platform.database<PricingDatabase>("pricing", pricingMigrations);
  const catalog = new VehicleCatalog(() => repo.listActiveVehicleTypes(database.db), {
    ttlMs: config.VEHICLE_CATALOG_TTL_S * 1000,
    logger,
  });

  const router = config.ROUTING_URL
    ? new OsrmClient(
        config.ROUTING_URL,
        createGuard({
          name: "routing-osrm",
          logger: platform.logger,
          metrics: platform.metrics,
          timeoutMs: config.ROUTING_TIMEOUT_MS,
        }),
      )
    : undefined;
  if (router)
    logger.info(
      { routingUrl: config.ROUTING_URL },
      "road distances from the routing service, great-circle estimate as fallback",
    );
  else logger.warn(`ROUTING_URL is not set: distances are great-circle estimates × ${config.ROAD_FACTOR}`);

  let surgeInputs = options.surgeInputs;
  if (!surgeInputs) {
    const inputs = new InMemorySurgeInputs({
      resolution: config.SURGE_H3_RESOLUTION,
      bookingTtlMs: config.SURGE_BOOKING_TTL_S * 1000,
      driverTtlMs: config.SURGE_DRIVER_TTL_S * 1000,
    });
    // Demand: booking's events, under its subject root. Supply: tracking's count of available drivers.
    const subscriptions = subscribeSurgeEvents(platform.bus, inputs, logger.child({ component: "surge" }), {
      booking: config.BOOKING_SUBJECT_ROOT,
    });
    platform.onShutdown("pricing surge subscriptions", async () => {
      for (const s of subscriptions) s.unsubscribe();
    });
    const own = options.ownAddress ?? (() => `127.0.0.1:${config.MESH_PORT}`);
    const tracking = platform.lazyMeshClient(
      TrackingInternalServiceService,
      () => config.TRACKING_GRPC_URL ?? own(),
      "pricing",
    );
    const guard = createGuard({
      name: "surge-supply-tracking",
      logger: platform.logger,
      metrics: platform.metrics,
      timeoutMs: config.SURGE_SUPPLY_TIMEOUT_MS,
    });
    surgeInputs = new DemandAndSupplyInputs(
      inputs,
      trackingSupply(tracking, guard, { cacheMs: config.SURGE_SUPPLY_CACHE_MS }),
    );
  }

  const pricing = createPricingService({
    db: database.db,
    catalog,
    distances: createDistanceProvider({
      router,
      estimate: { roadFactor: config.ROAD_FACTOR, averageSpeedKmph: config.ESTIMATE_SPEED_KMPH },
      cache: { store: platform.cache, ttlMs: config.ROUTE_CACHE_TTL_S * 1000 },
      logger,
    }),
    surge: surgeInputs,
    limits: {
      quotesPerUser: createRateLimiter(
        {
          name: "quotes-user",
          points: config.QUOTES_PER_USER_PER_MINUTE,
          durationSeconds: 60,
          what: "quotes",
          keyPrefix: config.CACHE_KEY_PREFIX,
        },
        platform.cache.redisClient(),
      ),
    },
    settings: {
      quoteTtlMs: config.QUOTE_TTL_S * 1000,
      maxScheduleAheadMs: config.MAX_SCHEDULE_AHEAD_DAYS * 86_400_000,
      nightWindow: {
        startMinute: parseClockTime(config.NIGHT_START_IST),
        endMinute: parseClockTime(config.NIGHT_END_IST),
      },
      nightChargeBps: config.NIGHT_CHARGE_BPS,
      gstRateBps: config.GST_RATE_BPS,
      surge: { factor: config.SURGE_FACTOR, cap: config.SURGE_CAP, resolution: config.SURGE_H3_RESOLUTION },
      quoteSigningSecret: config.QUOTE_SIGNING_SECRET,
    },
    logger,
    ...(options.now ? { now: options.now } : {}),
  });

  const retentionMs = config.QUOTE_RETENTION_H * 3_600_000;
  platform.poll({
    name: "pricing quote purge",
    everyMs: PURGE_EVERY_MS,
    delayFirstRun: true,
    logger,
    task: async () => {
      const deleted = await pricing.purgeExpiredQuotes(retentionMs);
      if (deleted > 0) logger.info({ deleted }, "old quotes purged");
    },
  });

  platform.grpc.addService(PricingServiceService, pricingHandlers(pricing), { publicMethods: PUBLIC_PRICING_METHODS });
  // Internal: booking redeems the quote of each order it books, over the mesh.
  platform.grpc.addService(QuoteRedemptionServiceService, redemptionHandlers(pricing));
  return pricing;
}
