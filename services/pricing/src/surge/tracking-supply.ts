/**
 * Surge inputs with supply from tracking: open demand from booking's events (the in-memory
 * picture of surge-inputs.ts), available drivers from tracking's CountAvailableDrivers over the
 * mesh, asked for the same H3 cells. Tracking already keeps the one index of who is online,
 * not on a trip and fresh, per vehicle type and cell (dispatch's FindNearbyDrivers reads it):
 * counting there costs one Redis ZCOUNT per cell, where a presence event per driver would cost
 * the bus ~2,000 messages a second for 10,000 drivers at one per driver per 5 s, and each
 * pricing replica a copy of every driver's position.
 *
 * A count is reused for a few seconds per (vehicle type, cells), so a burst of quotes around
 * one pickup asks once; a failing tracking (timeout, open circuit) makes counts() throw, and the
 * quote is then priced without surge rather than refused or surged on demand alone.
 */
import type { TrackingInternalServiceService } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import type { ServiceClient } from "@weelo/grpc";
import type { Guard } from "@weelo/resilience";
import type { SurgeCounts, SurgeInputs } from "./surge-inputs.js";

/** Available drivers of a vehicle type in the cells. */
export type SupplyCounter = (cells: readonly string[], vehicleType: string) => Promise<number>;

const MAX_CACHED = 10_000;

/** Tracking's count, behind the guard, each answer reused for `cacheMs`. */
export function trackingSupply(
  tracking: Pick<ServiceClient<typeof TrackingInternalServiceService>, "countAvailableDrivers">,
  guard: Guard,
  options: { cacheMs: number; now?: () => number },
): SupplyCounter {
  const now = options.now ?? Date.now;
  const cached = new Map<string, { count: number; at: number }>();
  return async (cells, vehicleType) => {
    const key = `${vehicleType}|${[...cells].sort().join(",")}`;
    const hit = cached.get(key);
    if (hit && now() - hit.at < options.cacheMs) return hit.count;
    const { availableDrivers } = await guard.execute((signal) =>
      tracking.countAvailableDrivers({ h3Cells: [...cells], vehicleType }, { signal }),
    );
    if (options.cacheMs > 0) {
      if (cached.size >= MAX_CACHED) cached.clear();
      cached.set(key, { count: availableDrivers, at: now() });
    }
    return availableDrivers;
  };
}

/** Demand from one source (booking's events), supply from another (tracking). */
export class DemandAndSupplyInputs implements SurgeInputs {
  constructor(
    private readonly demand: SurgeInputs,
    private readonly supply: SupplyCounter,
  ) {}

  async counts(cells: readonly string[], vehicleType: string): Promise<SurgeCounts> {
    const [open, available] = await Promise.all([
      this.demand.counts(cells, vehicleType),
      this.supply(cells, vehicleType),
    ]);
    return { demand: open.demand, supply: available };
  }
}
