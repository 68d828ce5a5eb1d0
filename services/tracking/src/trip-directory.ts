/**
 * Which booking a driver is on, and who may watch it. Booking owns trips; until its events
 * feed this service, the module's `trips` (an in-memory directory) is fed by calls:
 * trips.start(...) when a driver is assigned, trips.end(bookingId) when the trip is over.
 */
export interface LatLng {
  lat: number;
  lng: number;
}

export interface Trip {
  bookingId: string;
  /** The driver id the driver's stream is known by (fleet's driver id). */
  driverId: string;
  /** User id of the booking's customer. */
  customerId: string;
  /** User id of the transporter whose truck runs it. */
  transporterId: string;
  pickup?: LatLng;
  drop?: LatLng;
}

export interface TripDirectory {
  /** The trip of a booking (active or ended and still remembered). */
  byBooking(bookingId: string): Trip | undefined;
  /** The active trip of a driver, if any (on the hot path of every point: synchronous). */
  activeOf(driverId: string): Trip | undefined;
}

export interface TripChanges {
  /** Called when a trip starts or ends (the module marks the driver on/off trip in the position store). */
  onChange?(trip: Trip, active: boolean): void | Promise<void>;
}

/** The in-memory directory; ended trips are remembered (up to `remember` of them) so their watchers and paths still authorize. */
export class MemoryTripDirectory implements TripDirectory {
  private readonly trips = new Map<string, Trip>();
  private readonly active = new Map<string, Trip>();
  private readonly ended: string[] = [];

  constructor(private readonly changes: TripChanges = {}, private readonly remember = 100_000) {}

  async start(trip: Trip): Promise<void> {
    const current = this.active.get(trip.driverId);
    if (current && current.bookingId !== trip.bookingId) await this.end(current.bookingId);
    this.trips.set(trip.bookingId, trip);
    this.active.set(trip.driverId, trip);
    await this.changes.onChange?.(trip, true);
  }

  async end(bookingId: string): Promise<void> {
    const trip = this.trips.get(bookingId);
    if (!trip) return;
    if (this.active.get(trip.driverId)?.bookingId === bookingId) {
      this.active.delete(trip.driverId);
      await this.changes.onChange?.(trip, false);
    }
    this.ended.push(bookingId);
    while (this.ended.length > this.remember) {
      const old = this.ended.shift()!;
      const t = this.trips.get(old);
      if (t && this.active.get(t.driverId)?.bookingId !== old) this.trips.delete(old);
    }
  }

  byBooking(bookingId: string): Trip | undefined {
    return this.trips.get(bookingId);
  }

  activeOf(driverId: string): Trip | undefined {
    return this.active.get(driverId);
  }
}
