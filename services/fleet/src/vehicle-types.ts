/**
 * Which vehicle type ids exist. The pricing service owns the catalog; fleet only asks whether
 * an id is in it. The pricing catalog is small and changes rarely, so it is fetched whole and
 * kept for a while; when pricing cannot be reached, the last catalog seen is used.
 */
import type { CallOptions } from "@weelo/grpc";
import type {
  ListVehicleTypesRequest,
  ListVehicleTypesResponse,
} from "@weelo/contracts/grpc/weelo/pricing/v1/pricing_service";
import { UnavailableError } from "@weelo/errors";
import type { Logger } from "@weelo/log";

export interface VehicleTypeCatalog {
  /** True when the id names a bookable vehicle type. */
  has(typeId: string): Promise<boolean>;
}

/** After a failed refresh, the stale catalog is used this long before pricing is asked again. */
const RETRY_AFTER_FAILURE_MS = 10_000;

/** A fixed list of ids (when no pricing service is configured, and in tests). */
export function staticVehicleTypeCatalog(ids: readonly string[]): VehicleTypeCatalog {
  const known = new Set(ids);
  return { has: async (typeId) => known.has(typeId) };
}

/** What the catalog needs of a pricing client: a PricingService client from createClient fits. */
export interface VehicleTypeSource {
  listVehicleTypes(request: ListVehicleTypesRequest, options?: CallOptions): Promise<ListVehicleTypesResponse>;
}

/**
 * The catalog of the pricing service (weelo.pricing.v1.PricingService/ListVehicleTypes),
 * cached for ttlMs. Concurrent misses share one call. If a refresh fails, the last catalog
 * seen is used (and the failure logged); with none at all, the call fails UNAVAILABLE.
 */
export function pricingVehicleTypeCatalog(
  source: VehicleTypeSource,
  options: { ttlMs: number; logger: Logger; deadlineMs?: number },
): VehicleTypeCatalog {
  let known: Set<string> | undefined;
  let fetchedAt = 0;
  let inflight: Promise<Set<string>> | undefined;

  const refresh = () =>
    (inflight ??= source
      .listVehicleTypes({}, { deadlineMs: options.deadlineMs ?? 2000 })
      .then((response) => {
        known = new Set(response.vehicleTypes.map((t) => t.id));
        fetchedAt = Date.now();
        return known;
      })
      .finally(() => {
        inflight = undefined;
      }));

  return {
    async has(typeId) {
      if (known && Date.now() - fetchedAt < options.ttlMs) return known.has(typeId);
      try {
        return (await refresh()).has(typeId);
      } catch (error) {
        if (known) {
          // Keep using it, and try pricing again in a while rather than on every call.
          fetchedAt = Date.now() - options.ttlMs + Math.min(options.ttlMs, RETRY_AFTER_FAILURE_MS);
          options.logger.warn({ err: error }, "vehicle catalog refresh failed; using the last catalog seen");
          return known.has(typeId);
        }
        throw new UnavailableError("the vehicle type catalog is unavailable; try again shortly", {
          reason: "CATALOG_UNAVAILABLE",
          cause: error,
        });
      }
    },
  };
}
