/** Pure rules of the ops console's fleet stream (WatchFleetPositions): the box, the interval, who is shown. */
import { InvalidArgumentError } from "@weelo/errors";

export interface Box {
  south: number;
  west: number;
  north: number;
  east: number;
}

export const DEFAULT_FLEET_INTERVAL_MS = 1000;

/** The request's box and interval, checked beyond what the proto's rules say (edges in order). */
export function fleetWatchOf(request: Box & { minIntervalMs: number }): { box: Box; minIntervalMs: number } {
  const { south, west, north, east } = request;
  for (const [field, value] of Object.entries({ south, west, north, east }))
    if (!Number.isFinite(value)) throw new InvalidArgumentError(field, `${field} must be a number of degrees`);
  if (north < south) throw new InvalidArgumentError("north", "north must not be south of south");
  if (east < west)
    throw new InvalidArgumentError(
      "east",
      "east must not be west of west (a box across the antimeridian is not supported)",
    );
  return { box: { south, west, north, east }, minIntervalMs: request.minIntervalMs || DEFAULT_FLEET_INTERVAL_MS };
}

/** Four comparisons: the per-point, per-watcher test. */
export function inBox(box: Box, lat: number, lng: number): boolean {
  return lat >= box.south && lat <= box.north && lng >= box.west && lng <= box.east;
}

/** What the fleet stream knows of a driver to decide whether the map shows it. */
export interface FleetVisibility {
  online: boolean;
  hasPosition: boolean;
  lastSeenAt: number;
  /** The driver's active trip was reported dark (DriverWentDark) and no point came since. */
  dark: boolean;
}

/** Online, with a position, heard within the staleness window, not dark: the drivers FindNearbyDrivers would consider, plus those on a trip. */
export function isShown(driver: FleetVisibility, now: number, staleAfterMs: number): boolean {
  return driver.online && driver.hasPosition && !driver.dark && now - driver.lastSeenAt <= staleAfterMs;
}

/** Whether a driver last sent at `lastSentAt` (undefined: never on this stream) may be sent again now. */
export function dueForSend(lastSentAt: number | undefined, now: number, minIntervalMs: number): boolean {
  return lastSentAt === undefined || now - lastSentAt >= minIntervalMs;
}

/** Splits a long list (a snapshot of a big box) into messages of at most `size` items; always at least one chunk. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  if (items.length === 0) return [[]];
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
