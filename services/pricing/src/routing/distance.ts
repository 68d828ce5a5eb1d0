/**
 * How far a trip is: the road route when a router is configured and answers, otherwise the
 * great-circle estimate. The quote says which one was used. Road routes are cached for a
 * while, since a customer comparing vehicle types asks for the same two points again.
 */
import type { Logger } from "@weelo/log";
import { DomainError } from "@weelo/errors";
import { estimateRoad, type EstimateSettings, type LatLngPoint } from "./estimate.js";
import type { RoadRoute, RoadRouter } from "./osrm-client.js";

export type DistanceSource = "road_routing" | "great_circle_estimate";

export interface TripDistance {
  /** Whole metres. */
  distanceM: number;
  /** Whole seconds. */
  durationS: number;
  source: DistanceSource;
}

export interface DistanceProvider {
  measure(from: LatLngPoint, to: LatLngPoint): Promise<TripDistance>;
}

/** Where road routes are remembered (the platform cache, which may be Redis). */
export interface RouteCacheStore {
  getJson<T>(key: string): Promise<T | undefined>;
  setJson(key: string, value: unknown, options?: { ttlMs?: number }): Promise<void>;
}

export interface DistanceProviderOptions {
  /** The road router; without one every trip is estimated. */
  router?: RoadRouter | undefined;
  estimate: EstimateSettings;
  cache?: { store: RouteCacheStore; ttlMs: number } | undefined;
  logger: Logger;
}

export function createDistanceProvider(options: DistanceProviderOptions): DistanceProvider {
  const { router, cache, logger } = options;
  const estimated = (from: LatLngPoint, to: LatLngPoint): TripDistance => ({
    ...estimateRoad(from, to, options.estimate),
    source: "great_circle_estimate",
  });

  return {
    async measure(from, to) {
      if (!router) return estimated(from, to);
      const key = `route:${roundCoordinate(from.lat)},${roundCoordinate(from.lng)};${roundCoordinate(to.lat)},${roundCoordinate(to.lng)}`;
      const cached =
        cache && cache.ttlMs > 0 ? await cache.store.getJson<RoadRoute>(key).catch(() => undefined) : undefined;
      if (cached && Number.isFinite(cached.distanceM) && Number.isFinite(cached.durationS)) {
        return { distanceM: cached.distanceM, durationS: cached.durationS, source: "road_routing" };
      }
      try {
        const route = await router.route(from, to);
        if (cache && cache.ttlMs > 0)
          await cache.store.setJson(key, route, { ttlMs: cache.ttlMs }).catch(() => undefined);
        return { ...route, source: "road_routing" };
      } catch (error) {
        const reason = error instanceof DomainError ? error.reason : "ROUTING_FAILED";
        // An open circuit answers every call at once: that is expected, and already logged when it opened.
        const log = reason === "PROVIDER_UNAVAILABLE" ? logger.debug : logger.warn;
        log.call(
          logger,
          { err: error, router: router.name, reason },
          "road routing failed: using the great-circle estimate",
        );
        return estimated(from, to);
      }
    },
  };
}

/** Five decimals ≈ 1 m: the same pin dropped again hits the cache, two different places do not. */
const roundCoordinate = (degrees: number) => degrees.toFixed(5);
