/**
 * Available drivers per area, for pricing's surge: the count of the drivers FindNearbyDrivers
 * could offer, read from the same per-cell index (one ZCOUNT per cell in Redis) without
 * listing or reading anyone. Pricing asks it once per quote, over the mesh, rather than
 * following every driver's position through events: a count costs tracking a few
 * microseconds per cell, while a presence event per driver every N seconds would cost the bus
 * thousands of messages a second at city scale and each pricing replica a copy of the index.
 */
import { InvalidArgumentError } from "@weelo/errors";
import { cellToChildren, getResolution, isValidCell } from "h3-js";
import type { PositionStore } from "./position-store.js";

/** Most cells one request may name (a surge area is the pickup's cell and its ring: 7). */
export const MAX_SUPPLY_CELLS = 100;
/** Most index cells a request may expand to (coarser cells cover 7 children per resolution). */
const MAX_INDEX_CELLS = 7 * 7 * 7 * MAX_SUPPLY_CELLS;

export interface SupplyDeps {
  store: Pick<PositionStore, "countAvailable">;
  /** H3 resolution of the store's index. */
  resolution: number;
  /** Drivers not heard from for this long are not counted (as FindNearbyDrivers leaves them out). */
  staleAfterMs: number;
  now?: () => number;
}

/** The index cells covering the requested cells, or INVALID_ARGUMENT naming what is wrong. */
export function indexCellsOf(requested: readonly string[], resolution: number): string[] {
  const cells = [...new Set(requested.map((cell) => cell.trim().toLowerCase()))];
  if (cells.length === 0 || cells.length > MAX_SUPPLY_CELLS)
    throw new InvalidArgumentError("h3_cells", `h3_cells must name 1 to ${MAX_SUPPLY_CELLS} cells`);
  const out = new Set<string>();
  for (const cell of cells) {
    if (!isValidCell(cell)) throw new InvalidArgumentError("h3_cells", `"${cell.slice(0, 20)}" is not an H3 cell`);
    const cellResolution = getResolution(cell);
    if (cellResolution > resolution)
      throw new InvalidArgumentError(
        "h3_cells",
        `cells must be at resolution ${resolution} or coarser (tracking's index); ${cell} is at ${cellResolution}`,
      );
    for (const child of cellResolution === resolution ? [cell] : cellToChildren(cell, resolution)) out.add(child);
    if (out.size > MAX_INDEX_CELLS)
      throw new InvalidArgumentError("h3_cells", "the cells cover too large an area; name fewer or finer cells");
  }
  return [...out];
}

/** How many available drivers of the vehicle type are in the cells now. */
export async function countAvailableDrivers(
  deps: SupplyDeps,
  request: { cells: readonly string[]; vehicleType: string },
): Promise<number> {
  if (!/^[a-z0-9_]{1,50}$/.test(request.vehicleType))
    throw new InvalidArgumentError("vehicle_type", "vehicle_type is required (a vehicle type id)");
  const cells = indexCellsOf(request.cells, deps.resolution);
  const now = deps.now ?? Date.now;
  return deps.store.countAvailable(cells, request.vehicleType, now() - deps.staleAfterMs);
}
