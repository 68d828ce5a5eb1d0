/**
 * The trucks of one WatchFleet stream as the map draws them. Pure (no DOM, no Leaflet), so the
 * tests run it in Node. Handles name trucks on one stream only: a snapshot (the first batch of
 * every stream, and a resynchronisation) forgets every truck before it. A truck glides from its
 * last drawn place to its new one over about a second (the server sends at most one move per
 * truck per second), unless the jump is too long to be driven.
 */
import { TruckState } from "@weelo/contracts/es/weelo/ops/v1/ops_pb";
import type { WatchFleetResponse } from "@weelo/contracts/es/weelo/ops/v1/ops_service_pb";

export interface TruckView {
  handle: number;
  driverId: string;
  transporterId: string;
  vehicleId: string;
  vehicleType: string;
  /** Where the truck is (degrees); NaN until its first move. */
  lat: number;
  lng: number;
  /** Where the glide starts, and when (ms, the page's clock). */
  fromLat: number;
  fromLng: number;
  movedAt: number;
  heading: number;
  state: TruckState;
  /** The booking it is on, while ON_TRIP. */
  bookingId: string;
}

/** How long a truck glides to its new position (ms). */
export const GLIDE_MS = 900;
/** A jump longer than this (degrees, about 2 km) is drawn at once, not glided. */
const LONGEST_GLIDE_DEG = 0.02;

export interface FleetCounts {
  free: number;
  offered: number;
  onTrip: number;
  /** Introduced but without a position yet. */
  unplaced: number;
}

export class FleetState {
  private readonly trucks = new Map<number, TruckView>();
  /** Moves for a handle this stream never introduced (a server fault; counted, not drawn). */
  unknownHandles = 0;
  /** Batches applied since the page opened. */
  batches = 0;
  /** Last time a batch changed anything (ms). */
  changedAt = 0;

  apply(batch: WatchFleetResponse, now: number): void {
    this.batches += 1;
    this.changedAt = now;
    if (batch.snapshot) this.trucks.clear();
    for (const truck of batch.trucks) {
      this.trucks.set(truck.handle, {
        handle: truck.handle,
        driverId: truck.driverId,
        transporterId: truck.transporterId,
        vehicleId: truck.vehicleId,
        vehicleType: truck.vehicleType,
        lat: Number.NaN,
        lng: Number.NaN,
        fromLat: Number.NaN,
        fromLng: Number.NaN,
        movedAt: 0,
        heading: 0,
        state: TruckState.UNSPECIFIED,
        bookingId: "",
      });
    }
    for (const move of batch.moves) {
      const truck = this.trucks.get(move.handle);
      if (!truck) {
        this.unknownHandles += 1;
        continue;
      }
      const lat = move.latE5 / 1e5;
      const lng = move.lngE5 / 1e5;
      const placed = Number.isFinite(truck.lat);
      const [fromLat, fromLng] = placed ? this.positionAt(truck, now) : [lat, lng];
      const far = Math.abs(lat - fromLat) > LONGEST_GLIDE_DEG || Math.abs(lng - fromLng) > LONGEST_GLIDE_DEG;
      truck.fromLat = far ? lat : fromLat;
      truck.fromLng = far ? lng : fromLng;
      truck.lat = lat;
      truck.lng = lng;
      truck.movedAt = now;
      truck.heading = move.heading;
      truck.state = move.state;
      if (move.bookingId) truck.bookingId = move.bookingId;
      if (move.state !== TruckState.ON_TRIP) truck.bookingId = "";
    }
    for (const handle of batch.gone) this.trucks.delete(handle);
  }

  /** Forgets every truck (the stream closed for good, or the user logged out). */
  clear(): void {
    this.trucks.clear();
  }

  get size(): number {
    return this.trucks.size;
  }

  get(handle: number): TruckView | undefined {
    return this.trucks.get(handle);
  }

  /** The truck of a driver, if on the map. */
  byDriver(driverId: string): TruckView | undefined {
    for (const truck of this.trucks.values()) if (truck.driverId === driverId) return truck;
    return undefined;
  }

  values(): IterableIterator<TruckView> {
    return this.trucks.values();
  }

  /** Where to draw a truck at `now`: on its way from the last drawn place to the new one. */
  positionAt(truck: TruckView, now: number): [lat: number, lng: number] {
    const t = Math.min(1, Math.max(0, (now - truck.movedAt) / GLIDE_MS));
    if (t >= 1) return [truck.lat, truck.lng];
    return [truck.fromLat + (truck.lat - truck.fromLat) * t, truck.fromLng + (truck.lng - truck.fromLng) * t];
  }

  /** True while some truck is still gliding (the map keeps drawing frames until then). */
  gliding(now: number): boolean {
    return now - this.changedAt < GLIDE_MS;
  }

  counts(): FleetCounts {
    const counts: FleetCounts = { free: 0, offered: 0, onTrip: 0, unplaced: 0 };
    for (const truck of this.trucks.values()) {
      if (!Number.isFinite(truck.lat)) counts.unplaced += 1;
      else if (truck.state === TruckState.ON_TRIP) counts.onTrip += 1;
      else if (truck.state === TruckState.OFFERED) counts.offered += 1;
      else counts.free += 1;
    }
    return counts;
  }
}
