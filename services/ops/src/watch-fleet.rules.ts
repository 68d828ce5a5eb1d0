/**
 * Pure rules of the console's fleet map (OpsService.WatchFleet): tracking's batches of
 * FleetPositions become compact messages. Each truck gets a handle (a small number, never
 * reused on the stream) introduced once with its ids; a move carries the position in 1e-5
 * degrees, the heading in whole degrees, the state, and the booking id only when it changed.
 */
import { TruckState, type Truck, type TruckMove } from "@weelo/contracts/grpc/weelo/ops/v1/ops";
import type { WatchFleetResponse } from "@weelo/contracts/grpc/weelo/ops/v1/ops_service";
import type { WatchFleetPositionsResponse } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";

/** The console's colour of a truck: on a trip, else offered when its transporter holds an open offer, else free. */
export function truckState(bookingId: string, transporterId: string, offered: ReadonlySet<string>): TruckState {
  if (bookingId) return TruckState.TRUCK_STATE_ON_TRIP;
  return offered.has(transporterId) ? TruckState.TRUCK_STATE_OFFERED : TruckState.TRUCK_STATE_FREE;
}

/** Degrees to 1e-5 degrees (about a metre), rounded. */
export const toE5 = (degrees: number): number => Math.round(degrees * 1e5);

/** A heading as whole degrees 0–359 (360 and anything out of range wrap). */
export function wholeHeading(degrees: number): number {
  if (!Number.isFinite(degrees)) return 0;
  return ((Math.round(degrees) % 360) + 360) % 360;
}

interface Known {
  handle: number;
  transporterId: string;
  latE5: number;
  lngE5: number;
  heading: number;
  state: TruckState;
  bookingId: string;
}

export type FleetMessage = Omit<WatchFleetResponse, "sentAt">;

/** The trucks of one stream, by driver id: handles and what the console was last told. */
export class FleetHandles {
  private readonly known = new Map<string, Known>();
  private nextHandle = 1;

  get size(): number {
    return this.known.size;
  }

  /** Turns one batch from tracking into the console's message; a snapshot forgets every truck (handles are not reused). */
  apply(batch: WatchFleetPositionsResponse, offered: ReadonlySet<string>): FleetMessage {
    if (batch.snapshot) this.known.clear();
    const out: FleetMessage = { snapshot: batch.snapshot, trucks: [], moves: [], gone: [] };
    for (const id of batch.goneDriverIds) {
      const truck = this.known.get(id);
      if (!truck) continue;
      this.known.delete(id);
      out.gone.push(truck.handle);
    }
    for (const p of batch.positions) {
      let truck = this.known.get(p.driverId);
      if (!truck) {
        truck = {
          handle: this.nextHandle++,
          transporterId: p.transporterId,
          latE5: Number.NaN,
          lngE5: Number.NaN,
          heading: -1,
          state: TruckState.TRUCK_STATE_UNSPECIFIED,
          bookingId: "",
        };
        this.known.set(p.driverId, truck);
        out.trucks.push(introduction(truck.handle, p));
      }
      const move = this.move(truck, {
        latE5: toE5(p.position?.lat ?? 0),
        lngE5: toE5(p.position?.lng ?? 0),
        heading: wholeHeading(p.heading),
        state: truckState(p.bookingId, p.transporterId, offered),
        bookingId: p.bookingId,
      });
      if (move) out.moves.push(move);
    }
    return out;
  }

  /** The free and offered trucks whose colour changes with a new set of offered transporters. */
  restate(offered: ReadonlySet<string>): TruckMove[] {
    const moves: TruckMove[] = [];
    for (const truck of this.known.values()) {
      if (truck.state === TruckState.TRUCK_STATE_ON_TRIP) continue;
      const move = this.move(truck, { ...truck, state: truckState("", truck.transporterId, offered) });
      if (move) moves.push(move);
    }
    return moves;
  }

  /** The move to send, or undefined when the console already shows exactly this. */
  private move(truck: Known, next: Omit<Known, "handle" | "transporterId">): TruckMove | undefined {
    const same =
      next.latE5 === truck.latE5 &&
      next.lngE5 === truck.lngE5 &&
      next.heading === truck.heading &&
      next.state === truck.state &&
      next.bookingId === truck.bookingId;
    if (same) return undefined;
    const bookingChanged = next.bookingId !== truck.bookingId;
    Object.assign(truck, next);
    return {
      handle: truck.handle,
      latE5: next.latE5,
      lngE5: next.lngE5,
      heading: next.heading,
      state: next.state,
      bookingId: bookingChanged ? next.bookingId : "",
    };
  }
}

function introduction(handle: number, p: WatchFleetPositionsResponse["positions"][number]): Truck {
  return {
    handle,
    driverId: p.driverId,
    transporterId: p.transporterId,
    vehicleId: p.vehicleId,
    vehicleType: p.vehicleType,
  };
}

/** Whether a message says anything (a snapshot always does: it clears the map). */
export function isWorthSending(message: FleetMessage): boolean {
  return message.snapshot || message.trucks.length > 0 || message.moves.length > 0 || message.gone.length > 0;
}
