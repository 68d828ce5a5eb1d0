/**
 * Which booking a driver is on, and who may watch it: every replica's in-memory copy of the
 * trips table (see trip-feed.ts for how it is fed). The hot path (activeOf, per point) is a
 * map lookup; rows carry a version, so a stale read never overwrites a newer one.
 */
import type { DriverCommand } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking";
import type { TripRow } from "./tracking.table.js";

export interface LatLng {
  lat: number;
  lng: number;
}

/** The stops of a trip, in the order the truck reaches them. */
export type Stop = "pickup" | "drop";
/** The rings around a stop. */
export type Ring = "arriving" | "arrived";

export interface Trip {
  bookingId: string;
  /** The driver id the driver's stream is known by (fleet's driver id). */
  driverId: string;
  /** User id of the booking's customer. */
  customerId: string;
  /** User id of the transporter whose truck runs it. */
  transporterId: string;
  pickup?: LatLng | undefined;
  drop?: LatLng | undefined;
  /** The vehicle and the stops' names, for the driver's assignment command. */
  vehicleId: string;
  pickupPlace: string;
  dropPlace: string;
  /** The booking's status, lower case. */
  status: string;
  active: boolean;
  /** When the driver's trip started (ms): silence is counted from here when no point came since. */
  activeSince: number;
  /** Rings already entered ("pickup_arriving", …). */
  fired: Set<string>;
  /** When the driver was reported dark (ms), while the silence lasts. */
  darkAt: number | undefined;
  version: number;
}

/** Internal bookkeeping of the directory. */
interface Held extends Trip {
  /** Directory tick of the last apply. */
  appliedTick?: number;
}

/** Booking statuses during which the truck heads to the pickup, then to the drop. */
const TO_PICKUP = new Set(["assigned", "driver_en_route"]);
const TO_DROP = new Set(["at_pickup", "in_transit"]);

/** The stop the truck is heading to, if its rings still matter. */
export function nextStop(trip: Trip): Stop | undefined {
  if (TO_PICKUP.has(trip.status)) return "pickup";
  if (TO_DROP.has(trip.status)) return "drop";
  return undefined;
}

/** A row as a trip; a booking without a driver (pending, reopened) is a trip with driverId "" that nobody drives. */
export function tripFromRow(row: TripRow): Trip {
  const fired = new Set<string>();
  if (row.pickup_arriving_at) fired.add("pickup_arriving");
  if (row.pickup_arrived_at) fired.add("pickup_arrived");
  if (row.drop_arriving_at) fired.add("drop_arriving");
  if (row.drop_arrived_at) fired.add("drop_arrived");
  return {
    bookingId: row.booking_id,
    driverId: row.driver_id ?? "",
    customerId: row.customer_id,
    transporterId: row.transporter_id ?? "",
    pickup:
      row.pickup_lat !== null && row.pickup_lng !== null ? { lat: row.pickup_lat, lng: row.pickup_lng } : undefined,
    drop: row.drop_lat !== null && row.drop_lng !== null ? { lat: row.drop_lat, lng: row.drop_lng } : undefined,
    vehicleId: row.vehicle_id ?? "",
    pickupPlace: row.pickup_place,
    dropPlace: row.drop_place,
    status: row.status,
    active: row.active && row.driver_id !== null,
    activeSince: row.active_since?.getTime() ?? 0,
    fired,
    darkAt: row.dark_at?.getTime(),
    version: Number(row.version),
  };
}

/** The command that tells a driver the trip is theirs: the booking, the vehicle, where to go. */
export function assignmentOf(trip: Trip): NonNullable<DriverCommand["kind"]> {
  return {
    $case: "assignment",
    value: {
      bookingId: trip.bookingId,
      vehicleId: trip.vehicleId,
      pickup: trip.pickup,
      drop: trip.drop,
      pickupAddress: trip.pickupPlace,
      dropAddress: trip.dropPlace,
    },
  };
}

export interface TripChanges {
  /** Called when a driver's trip starts or ends (the module marks the driver on/off trip in the position store). */
  onChange?(trip: Trip, active: boolean): void | Promise<void>;
}

export class TripDirectory {
  private readonly trips = new Map<string, Trip>();
  private readonly active = new Map<string, Trip>();
  /** Ended trips remembered (oldest first), so their watchers and paths still authorize without a read. */
  private readonly ended = new Set<string>();
  private tick = 0;

  constructor(
    private readonly changes: TripChanges = {},
    private readonly remember = 100_000,
  ) {}

  get activeCount(): number {
    return this.active.size;
  }

  /** Applies a row of the trips table unless a newer version of it is known. */
  async apply(row: TripRow): Promise<void> {
    const known = this.trips.get(row.booking_id);
    if (known && known.version >= Number(row.version)) return;
    const trip = tripFromRow(row);
    (trip as Held).appliedTick = ++this.tick;
    this.trips.set(trip.bookingId, trip);
    const wasActive = known?.active === true && this.active.get(known.driverId)?.bookingId === known.bookingId;
    if (wasActive && known.driverId !== trip.driverId) {
      this.active.delete(known.driverId);
      await this.changes.onChange?.(known, false);
    }
    if (trip.active) {
      this.ended.delete(trip.bookingId);
      const current = this.active.get(trip.driverId);
      this.active.set(trip.driverId, trip);
      if (!current || current.bookingId !== trip.bookingId) await this.changes.onChange?.(trip, true);
    } else {
      if (this.active.get(trip.driverId)?.bookingId === trip.bookingId) {
        this.active.delete(trip.driverId);
        await this.changes.onChange?.(trip, false);
      }
      this.rememberEnded(trip.bookingId);
    }
  }

  /** Take before reading the active rows for reconcile(): trips applied after it are newer than the read. */
  mark(): number {
    return this.tick;
  }

  /** Replaces the set of active trips with what the table said at `mark` (rows newer than the known ones win). */
  async reconcile(activeRows: readonly TripRow[], mark: number): Promise<void> {
    const stillActive = new Set(activeRows.map((r) => r.booking_id));
    for (const row of activeRows) await this.apply(row);
    for (const trip of [...this.active.values()]) {
      // Active here but not in the table any more: a change this replica missed; it ended.
      if (!stillActive.has(trip.bookingId) && ((trip as Held).appliedTick ?? 0) <= mark) await this.end(trip);
    }
  }

  byBooking(bookingId: string): Trip | undefined {
    return this.trips.get(bookingId);
  }

  activeOf(driverId: string): Trip | undefined {
    return this.active.get(driverId);
  }

  activeTrips(): IterableIterator<Trip> {
    return this.active.values();
  }

  private async end(trip: Trip): Promise<void> {
    trip.active = false;
    if (this.active.get(trip.driverId)?.bookingId === trip.bookingId) {
      this.active.delete(trip.driverId);
      await this.changes.onChange?.(trip, false);
    }
    this.rememberEnded(trip.bookingId);
  }

  private rememberEnded(bookingId: string): void {
    this.ended.delete(bookingId);
    this.ended.add(bookingId);
    for (const old of this.ended) {
      if (this.ended.size <= this.remember) break;
      this.ended.delete(old);
      const t = this.trips.get(old);
      if (t && !t.active) this.trips.delete(old);
    }
  }
}
