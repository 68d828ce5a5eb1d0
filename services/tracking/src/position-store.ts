/**
 * Latest positions and the nearby-driver index. Drivers are bucketed into H3 cells (per
 * vehicle type) at a fixed resolution; a search walks rings of cells outward from the
 * center and stops as soon as no unvisited cell can hold a driver nearer than the
 * limit-th found, or past the radius. Its cost follows the drivers near the center and
 * the (bounded) radius, never the size of the city. Both implementations share it.
 */
import {
  cellToBoundary,
  cellToLatLng,
  getHexagonEdgeLengthAvg,
  gridDisk,
  gridRingUnsafe,
  latLngToCell,
  UNITS,
} from "h3-js";
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
  record(
    driverId: string,
    update: { lastSeq: number; lastSeenAt: number; position: AcceptedPoint | undefined },
  ): Promise<void>;
  setAvailability(driverId: string, availability: DriverAvailability): Promise<void>;
  setOnTrip(driverId: string, onTrip: boolean): Promise<void>;
  nearby(query: NearbyQuery): Promise<NearbyResult[]>;
  /** How many available drivers of the type, last seen at or after `seenSince` (ms), are indexed in the cells (at the index resolution). */
  countAvailable(cells: readonly string[], vehicleType: string, seenSince: number): Promise<number>;
  /** Every stored driver, in batches (the fleet stream's table when it starts; not for the hot path). */
  scan(visit: (drivers: StoredDriver[]) => void): Promise<void>;
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
  // A driver listed twice (moving between cells while the rings are read) lands on its own key
  // again. Candidates are not copied: only the results are, at the end.
  const found = new Map<string, { candidate: Candidate; distanceM: number }>();
  const nearestFirst = () => [...found.values()].sort((a, b) => a.distanceM - b.distanceM);
  for (let k = 0; minDistanceOfRing(k) <= query.radiusM; k++) {
    const cells = ringCells(origin, k);
    for (const candidate of await fetchRing(cells)) {
      const key = query.onePerTransporter ? candidate.transporterId : candidate.driverId;
      if (!key) continue;
      const distanceM = haversineM(query, candidate);
      if (distanceM > query.radiusM) continue;
      const known = found.get(key);
      if (!known) found.set(key, { candidate, distanceM });
      else if (distanceM < known.distanceM) Object.assign(known, { candidate, distanceM });
    }
    if (found.size >= query.limit && nearestFirst()[query.limit - 1]!.distanceM <= minDistanceOfRing(k + 1)) break;
  }
  return nearestFirst()
    .slice(0, query.limit)
    .map(({ candidate, distanceM }) => ({ ...candidate, distanceM }));
}

/**
 * The H3 cell of each driver's latest position, computed again only when the driver may have
 * left the cell it was in: latLngToCell costs tens of microseconds, and most points land a few
 * metres from the last, deep inside the same cell. A point within the cell's inscribed circle
 * (less a margin) of its centre is in it, whatever H3's distortion there.
 */
export class DriverCells {
  private readonly last = new Map<string, { cell: string; lat: number; lng: number; safeM: number }>();
  private readonly safeByCell = new Map<string, number>();

  constructor(
    private readonly resolution: number,
    private readonly maxDrivers = 500_000,
  ) {}

  cellOf(driverId: string, lat: number, lng: number): string {
    const known = this.last.get(driverId);
    if (known && haversineM(known, { lat, lng }) < known.safeM) return known.cell;
    const cell = latLngToCell(lat, lng, this.resolution);
    const [centerLat, centerLng] = cellToLatLng(cell);
    if (!known && this.last.size >= this.maxDrivers) this.last.delete(this.last.keys().next().value!);
    this.last.set(driverId, {
      cell,
      lat: centerLat,
      lng: centerLng,
      safeM: this.safeRadius(cell, centerLat, centerLng),
    });
    return cell;
  }

  /** 90% of the cell's inscribed radius (√3/2 of its shortest centre-to-corner distance). */
  private safeRadius(cell: string, lat: number, lng: number): number {
    let safe = this.safeByCell.get(cell);
    if (safe === undefined) {
      const corners = cellToBoundary(cell).map(([cLat, cLng]) => haversineM({ lat, lng }, { lat: cLat, lng: cLng }));
      safe = 0.9 * (Math.sqrt(3) / 2) * Math.min(...corners);
      if (this.safeByCell.size >= 100_000) this.safeByCell.clear();
      this.safeByCell.set(cell, safe);
    }
    return safe;
  }
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

/**
 * The in-process store of the embedded default: a map of drivers and, per vehicle type and
 * cell, the set of available drivers in it.
 */
export class MemoryPositionStore implements PositionStore {
  readonly kind = "memory" as const;
  private readonly drivers = new Map<string, IndexedDriver>();
  /** Per vehicle type and cell, its available drivers with the candidate each one is. */
  private readonly cells = new Map<string, Map<string, IndexedDriver>>();
  private readonly driverCells: DriverCells;

  constructor(private readonly resolution: number) {
    this.driverCells = new DriverCells(resolution);
  }

  async get(driverId: string): Promise<StoredDriver | undefined> {
    const driver = this.drivers.get(driverId);
    if (!driver) return undefined;
    const { indexKey: _indexKey, candidate: _candidate, ...stored } = driver;
    return { ...stored };
  }

  async record(
    driverId: string,
    update: { lastSeq: number; lastSeenAt: number; position: AcceptedPoint | undefined },
  ): Promise<void> {
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
        const members = this.cells.get(`${query.vehicleType}|${cell}`);
        if (!members) continue;
        for (const d of members.values()) if (d.candidate && d.lastSeenAt >= query.seenSince) out.push(d.candidate);
      }
      return out;
    });
  }

  async countAvailable(cells: readonly string[], vehicleType: string, seenSince: number): Promise<number> {
    let count = 0;
    for (const cell of cells) {
      for (const d of this.cells.get(`${vehicleType}|${cell}`)?.values() ?? []) if (d.lastSeenAt >= seenSince) count++;
    }
    return count;
  }

  async scan(visit: (drivers: StoredDriver[]) => void): Promise<void> {
    const all: StoredDriver[] = [];
    for (const driver of this.drivers.values()) {
      const { indexKey: _indexKey, candidate: _candidate, ...stored } = driver;
      all.push(stored);
    }
    visit(all);
  }

  async close(): Promise<void> {
    this.drivers.clear();
    this.cells.clear();
  }

  private entry(driverId: string): IndexedDriver {
    let driver = this.drivers.get(driverId);
    if (!driver) {
      driver = {
        driverId,
        lastSeq: 0,
        position: undefined,
        lastSeenAt: 0,
        availability: undefined,
        onTrip: false,
        indexKey: undefined,
        candidate: undefined,
      };
      this.drivers.set(driverId, driver);
    }
    return driver;
  }

  /** Keeps the driver in exactly the one cell it belongs to (none when unavailable), with its candidate up to date. */
  private reindex(driver: IndexedDriver): void {
    const available = driver.availability?.online === true && !driver.onTrip && driver.position !== undefined;
    // A search reads candidates without copying them: each change makes a new one.
    driver.candidate = available
      ? {
          driverId: driver.driverId,
          lat: driver.position!.lat,
          lng: driver.position!.lng,
          lastSeenAt: driver.lastSeenAt,
          transporterId: driver.availability!.transporterId,
          vehicleId: driver.availability!.vehicleId,
          vehicleType: driver.availability!.vehicleType,
        }
      : undefined;
    const key = available
      ? `${driver.availability!.vehicleType}|${this.driverCells.cellOf(driver.driverId, driver.position!.lat, driver.position!.lng)}`
      : undefined;
    if (key === driver.indexKey) return;
    if (driver.indexKey) {
      const members = this.cells.get(driver.indexKey);
      members?.delete(driver.driverId);
      if (members?.size === 0) this.cells.delete(driver.indexKey);
    }
    if (key) {
      let members = this.cells.get(key);
      if (!members) {
        members = new Map();
        this.cells.set(key, members);
      }
      members.set(driver.driverId, driver);
    }
    driver.indexKey = key;
  }
}

type IndexedDriver = StoredDriver & { indexKey: string | undefined; candidate: Candidate | undefined };
