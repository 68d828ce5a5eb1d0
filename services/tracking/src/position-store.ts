/**
 * Latest positions and the nearby-driver index. Drivers are bucketed into H3 cells (per
 * vehicle type) at a fixed resolution; a search walks rings of cells outward from the
 * center and stops as soon as no unvisited cell can hold a driver nearer than the
 * limit-th found, or past the radius. Its cost follows the drivers near the center and
 * the (bounded) radius, never the size of the city. Both implementations share it.
 */
import { getHexagonEdgeLengthAvg, gridDisk, gridRingUnsafe, latLngToCell, UNITS } from "h3-js";
import { haversineM, type AcceptedPoint } from "./tracking.rules.js";

/** What fleet says about a driver (from fleet.driver.availability). */
export interface DriverAvailability {
  online: boolean;
  vehicleType: string;
  vehicleId: string;
  transporterId: string;
}

/** The stored state of one driver. */
export interface StoredDriver {
  driverId: string;
  /** Highest sequence number handled (accepted or rejected); 0 when none. */
  lastSeq: number;
  /** Latest accepted fix. */
  position: AcceptedPoint | undefined;
  /** When the server last heard from the driver (ms). */
  lastSeenAt: number;
  availability: DriverAvailability | undefined;
  onTrip: boolean;
}

export interface NearbyQuery {
  lat: number;
  lng: number;
  radiusM: number;
  vehicleType: string;
  limit: number;
  /** Drivers last seen before this time (ms) are left out. */
  seenSince: number;
  /** Only the nearest driver of each transporter (drivers without one are left out); `limit` counts transporters. */
  onePerTransporter?: boolean;
}

export interface NearbyResult {
  driverId: string;
  lat: number;
  lng: number;
  distanceM: number;
  lastSeenAt: number;
  transporterId: string;
  vehicleId: string;
  vehicleType: string;
}

export interface PositionStore {
  readonly kind: "redis" | "memory";
  get(driverId: string): Promise<StoredDriver | undefined>;
  /** Records handled points: the new sequence number, last-seen, and the new position when one was accepted. Older sequence numbers never overwrite newer. */
  record(driverId: string, update: { lastSeq: number; lastSeenAt: number; position: AcceptedPoint | undefined }): Promise<void>;
  setAvailability(driverId: string, availability: DriverAvailability): Promise<void>;
  setOnTrip(driverId: string, onTrip: boolean): Promise<void>;
  nearby(query: NearbyQuery): Promise<NearbyResult[]>;
  close(): Promise<void>;
}

/** A candidate from one ring of cells, before the radius and distance checks. */
export type Candidate = Omit<NearbyResult, "distanceM">;

/**
 * Walks rings of H3 cells outward from the center; fetchRing returns the drivers indexed
 * in the given cells that are available, of the type, and fresh.
 */
export async function ringSearch(
  query: NearbyQuery,
  resolution: number,
  fetchRing: (cells: string[]) => Promise<Candidate[]>,
): Promise<NearbyResult[]> {
  const origin = latLngToCell(query.lat, query.lng, resolution);
  const edge = getHexagonEdgeLengthAvg(resolution, UNITS.m);
  // Any point of a cell k rings out is at least this far from any point of the origin cell
  // (center spacing √3·edge, with margin for H3's distortion, minus two cell radii).
  const minDistanceOfRing = (k: number) => Math.max(0, (k * 1.4 - 2) * edge);
  // Keyed by driver, or by transporter (its nearest driver) when one per transporter is asked:
  // then the walk stops as soon as enough transporters are found, usually rings earlier.
  // A driver listed twice (moving between cells while the rings are read) lands on its own key again.
  const found = new Map<string, NearbyResult>();
  const nearestFirst = () => [...found.values()].sort((a, b) => a.distanceM - b.distanceM);
  for (let k = 0; minDistanceOfRing(k) <= query.radiusM; k++) {
    const cells = ringCells(origin, k);
    for (const candidate of await fetchRing(cells)) {
      const key = query.onePerTransporter ? candidate.transporterId : candidate.driverId;
      if (!key) continue;
      const distanceM = haversineM(query, candidate);
      if (distanceM > query.radiusM) continue;
      const known = found.get(key);
      if (!known || distanceM < known.distanceM) found.set(key, { ...candidate, distanceM });
    }
    if (found.size >= query.limit && nearestFirst()[query.limit - 1]!.distanceM <= minDistanceOfRing(k + 1)) break;
  }
  return nearestFirst().slice(0, query.limit);
}

function ringCells(origin: string, k: number): string[] {
  if (k === 0) return [origin];
  try {
    return gridRingUnsafe(origin, k);
  } catch {
    // Near a pentagon: the whole disk minus the inner one.
    const inner = new Set(gridDisk(origin, k - 1));
    return gridDisk(origin, k).filter((cell) => !inner.has(cell));
  }
}

export function cellOf(lat: number, lng: number, resolution: number): string {
  return latLngToCell(lat, lng, resolution);
}

/**
 * The in-process store of the embedded default: a map of drivers and, per vehicle type and
 * cell, the set of available drivers in it.
 */
export class MemoryPositionStore implements PositionStore {
  readonly kind = "memory" as const;
  private readonly drivers = new Map<string, StoredDriver & { indexKey: string | undefined }>();
  private readonly cells = new Map<string, Set<string>>();

  constructor(private readonly resolution: number) {}

  async get(driverId: string): Promise<StoredDriver | undefined> {
    const driver = this.drivers.get(driverId);
    if (!driver) return undefined;
    const { indexKey: _indexKey, ...stored } = driver;
    return { ...stored };
  }

  async record(driverId: string, update: { lastSeq: number; lastSeenAt: number; position: AcceptedPoint | undefined }): Promise<void> {
    const driver = this.entry(driverId);
    if (update.lastSeq < driver.lastSeq) return;
    driver.lastSeq = update.lastSeq;
    driver.lastSeenAt = Math.max(driver.lastSeenAt, update.lastSeenAt);
    if (update.position) driver.position = update.position;
    this.reindex(driver);
  }

  async setAvailability(driverId: string, availability: DriverAvailability): Promise<void> {
    const driver = this.entry(driverId);
    driver.availability = availability;
    this.reindex(driver);
  }

  async setOnTrip(driverId: string, onTrip: boolean): Promise<void> {
    const driver = this.entry(driverId);
    driver.onTrip = onTrip;
    this.reindex(driver);
  }

  async nearby(query: NearbyQuery): Promise<NearbyResult[]> {
    return ringSearch(query, this.resolution, async (cells) => {
      const out: Candidate[] = [];
      for (const cell of cells) {
        for (const id of this.cells.get(`${query.vehicleType}|${cell}`) ?? []) {
          const d = this.drivers.get(id)!;
          if (d.lastSeenAt < query.seenSince || !d.position || !d.availability) continue;
          out.push({
            driverId: id,
            lat: d.position.lat,
            lng: d.position.lng,
            lastSeenAt: d.lastSeenAt,
            transporterId: d.availability.transporterId,
            vehicleId: d.availability.vehicleId,
            vehicleType: d.availability.vehicleType,
          });
        }
      }
      return out;
    });
  }

  async close(): Promise<void> {
    this.drivers.clear();
    this.cells.clear();
  }

  private entry(driverId: string) {
    let driver = this.drivers.get(driverId);
    if (!driver) {
      driver = { driverId, lastSeq: 0, position: undefined, lastSeenAt: 0, availability: undefined, onTrip: false, indexKey: undefined };
      this.drivers.set(driverId, driver);
    }
    return driver;
  }

  /** Keeps the driver in exactly the one cell set it belongs to (none when unavailable). */
  private reindex(driver: StoredDriver & { indexKey: string | undefined }): void {
    const available = driver.availability?.online === true && !driver.onTrip && driver.position !== undefined;
    const key = available ? `${driver.availability!.vehicleType}|${cellOf(driver.position!.lat, driver.position!.lng, this.resolution)}` : undefined;
    if (key === driver.indexKey) return;
    if (driver.indexKey) {
      const set = this.cells.get(driver.indexKey);
      set?.delete(driver.driverId);
      if (set?.size === 0) this.cells.delete(driver.indexKey);
    }
    if (key) {
      let set = this.cells.get(key);
      if (!set) this.cells.set(key, (set = new Set()));
      set.add(driver.driverId);
    }
    driver.indexKey = key;
  }
}
