/**
 * Live demand and supply near a pickup, the inputs of surge pricing. Demand is the vehicles
 * still wanted by open bookings, supply the drivers online, each of one vehicle type and
 * located in an H3 cell. The in-memory implementation is fed by bus events (see
 * surge-events.ts): each replica builds its own picture from the same event stream, and an
 * entry whose closing event never comes counts only until its TTL runs out.
 *
 * A driver counts toward supply once three things are known: online, the vehicle type, and a
 * position. Fleet's availability event says the first two; the position comes with it or
 * from a later location event, and every event about the driver keeps the entry fresh.
 */
import { latLngToCell } from "h3-js";
import type { LatLngPoint } from "../routing/estimate.js";

export interface SurgeCounts {
  /** Vehicles wanted by open bookings. */
  demand: number;
  /** Drivers online. */
  supply: number;
}

/**
 * Where surge pricing reads live demand and supply. Asynchronous, so an implementation may
 * ask another service (tracking's live positions, booking's open orders) instead of events.
 */
export interface SurgeInputs {
  /** Demand and supply of one vehicle type summed over the given H3 cells. */
  counts(cells: readonly string[], vehicleType: string): Promise<SurgeCounts>;
}

/** What the bus tells about demand and supply, once its payload has been understood. */
export type SurgeEvent =
  | { kind: "booking_open"; bookingId: string; vehicleType: string; location: LatLngPoint; vehicles: number }
  | { kind: "booking_closed"; bookingId: string }
  | { kind: "driver_online"; driverId: string; vehicleType: string; location?: LatLngPoint | undefined }
  | { kind: "driver_offline"; driverId: string }
  | { kind: "driver_location"; driverId: string; location: LatLngPoint };

export interface InMemorySurgeSettings {
  /** H3 resolution the entries are indexed at; must match the one counts() is asked with. */
  resolution: number;
  /** An open booking counts for at most this long without a closing event. */
  bookingTtlMs: number;
  /** An online driver counts for at most this long without a fresh availability or location event. */
  driverTtlMs: number;
  now?: () => number;
}

interface Entry {
  key: string;
  weight: number;
  expiresAt: number;
}

/** Entries by id, indexed by "cell|vehicle type"; expired entries are skipped and swept. */
class PresenceTable {
  private readonly entries = new Map<string, Entry>();
  private readonly index = new Map<string, Set<string>>();

  set(id: string, key: string, weight: number, expiresAt: number): void {
    this.delete(id);
    this.entries.set(id, { key, weight, expiresAt });
    let ids = this.index.get(key);
    if (!ids) {
      ids = new Set();
      this.index.set(key, ids);
    }
    ids.add(id);
  }

  delete(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    const ids = this.index.get(entry.key);
    ids?.delete(id);
    if (ids?.size === 0) this.index.delete(entry.key);
  }

  sum(key: string, now: number): number {
    let total = 0;
    for (const id of this.index.get(key) ?? []) {
      const entry = this.entries.get(id)!;
      if (entry.expiresAt > now) total += entry.weight;
    }
    return total;
  }

  sweep(now: number): void {
    for (const [id, entry] of this.entries) if (entry.expiresAt <= now) this.delete(id);
  }

  get size(): number {
    return this.entries.size;
  }
}

interface DriverState {
  online: boolean;
  vehicleType: string | undefined;
  location: LatLngPoint | undefined;
  expiresAt: number;
}

export class InMemorySurgeInputs implements SurgeInputs {
  private readonly bookings = new PresenceTable();
  private readonly drivers = new PresenceTable();
  /** What is known of each driver heard of recently, counted or not. */
  private readonly driverStates = new Map<string, DriverState>();
  private readonly now: () => number;
  private lastSweep = 0;

  constructor(private readonly settings: InMemorySurgeSettings) {
    this.now = settings.now ?? Date.now;
  }

  apply(event: SurgeEvent): void {
    const now = this.now();
    switch (event.kind) {
      case "booking_open":
        this.bookings.set(
          event.bookingId,
          this.keyOf(event.location, event.vehicleType),
          Math.max(1, event.vehicles),
          now + this.settings.bookingTtlMs,
        );
        break;
      case "booking_closed":
        this.bookings.delete(event.bookingId);
        break;
      case "driver_online":
        this.updateDriver(event.driverId, now, {
          online: true,
          vehicleType: event.vehicleType,
          ...(event.location ? { location: event.location } : {}),
        });
        break;
      case "driver_offline":
        this.driverStates.delete(event.driverId);
        this.drivers.delete(event.driverId);
        break;
      case "driver_location":
        this.updateDriver(event.driverId, now, { location: event.location });
        break;
    }
    if (now - this.lastSweep > 60_000) {
      this.lastSweep = now;
      this.bookings.sweep(now);
      this.drivers.sweep(now);
      for (const [id, state] of this.driverStates) if (state.expiresAt <= now) this.driverStates.delete(id);
    }
  }

  async counts(cells: readonly string[], vehicleType: string): Promise<SurgeCounts> {
    return this.countsNow(cells, vehicleType);
  }

  /** The same as counts(), synchronously. */
  countsNow(cells: readonly string[], vehicleType: string): SurgeCounts {
    const now = this.now();
    let demand = 0;
    let supply = 0;
    for (const cell of new Set(cells)) {
      demand += this.bookings.sum(`${cell}|${vehicleType}`, now);
      supply += this.drivers.sum(`${cell}|${vehicleType}`, now);
    }
    return { demand, supply };
  }

  /** How many bookings and counted drivers are held (expired ones until the next sweep). */
  get size(): { bookings: number; drivers: number } {
    return { bookings: this.bookings.size, drivers: this.drivers.size };
  }

  /** Merges what an event says of a driver, and counts the driver where all of it is known. */
  private updateDriver(
    driverId: string,
    now: number,
    change: Partial<Pick<DriverState, "online" | "vehicleType" | "location">>,
  ): void {
    const stored = this.driverStates.get(driverId);
    const previous = stored && stored.expiresAt > now ? stored : undefined; // a stale state says nothing
    const state: DriverState = {
      online: change.online ?? previous?.online ?? false,
      vehicleType: change.vehicleType ?? previous?.vehicleType,
      location: change.location ?? previous?.location,
      expiresAt: now + this.settings.driverTtlMs,
    };
    this.driverStates.set(driverId, state);
    if (state.online && state.vehicleType && state.location) {
      this.drivers.set(driverId, this.keyOf(state.location, state.vehicleType), 1, state.expiresAt);
    } else {
      this.drivers.delete(driverId);
    }
  }

  private keyOf(location: LatLngPoint, vehicleType: string): string {
    return `${latLngToCell(location.lat, location.lng, this.settings.resolution)}|${vehicleType}`;
  }
}
