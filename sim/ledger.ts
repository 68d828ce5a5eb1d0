/**
 * What the simulated apps saw and did, recorded as it happened: orders and bookings with the
 * times of their milestones, acceptances, the customers' watch streams, the points each
 * driver's app had acknowledged per trip, and the running counters of the progress line.
 */
import type { Acceptance, WatchMessage } from "./invariants.js";
import type { LatLng } from "./geo.js";
import { RateMeter } from "./stats.js";

export interface OrderRecord {
  id: string;
  /** Index of the order in the run's schedule (its seeded decisions use it). */
  index: number;
  customer: number;
  vehicleType: string;
  vehicleCount: number;
  bookingIds: string[];
  pickup: LatLng;
  drop: LatLng;
  createdAt: number;
  /** When a transporter of the run first saw an offer of the order. */
  firstOfferAt?: number;
  /** When the broadcast ends, as the offers said (latest seen). */
  offerExpiresAt?: number;
}

export interface BookingRecord {
  id: string;
  orderId: string;
  customer: number;
  createdAt: number;
  acceptedAt?: number;
  assignedAt?: number;
  completedAt?: number;
  cancelledAt?: number;
  /** Who the run had cancel it ("customer"), if anyone. */
  cancelledBy?: "customer";
  transporter?: number;
  driver?: number;
  /** Every message of the customer's WatchBooking stream(s), in arrival order. */
  watch: WatchMessage[];
  /** True while the customer's watch stream runs (it ends after a final status). */
  watching: boolean;
  /** The trip's moving fixes that the server acknowledged: sequence number and when the ack came. */
  ackedTripPoints: { seq: number; at: number }[];
  /** Why the run left the booking unfinished, when it knows. */
  explanation?: string;
}

export class Ledger {
  readonly orders = new Map<string, OrderRecord>();
  readonly bookings = new Map<string, BookingRecord>();
  readonly acceptances: Acceptance[] = [];
  readonly pointsMeter = new RateMeter(5000);
  readonly startedAt = Date.now();
  pointsSent = 0;
  pointsAcked = 0;
  pointsRejected = 0;
  pointsResent = 0;
  streamReconnects = 0;
  watchReconnects = 0;
  offerStreamReconnects = 0;
  ordersFailed = 0;
  declines = 0;
  driversOnline = 0;

  /** Why streams ended before the run did, by reason: how often, first and last (seconds into the run). */
  readonly streamEnds = new Map<string, { count: number; firstS: number; lastS: number }>();

  streamEnd(reason: string): void {
    const at = Math.round((Date.now() - this.startedAt) / 1000);
    const known = this.streamEnds.get(reason);
    if (known) {
      known.count += 1;
      known.lastS = at;
    } else {
      this.streamEnds.set(reason, { count: 1, firstS: at, lastS: at });
    }
  }

  addOrder(order: OrderRecord): void {
    this.orders.set(order.id, order);
    for (const id of order.bookingIds) {
      this.bookings.set(id, {
        id,
        orderId: order.id,
        customer: order.customer,
        createdAt: order.createdAt,
        watch: [],
        watching: false,
        ackedTripPoints: [],
      });
    }
  }

  count(milestone: "acceptedAt" | "assignedAt" | "completedAt" | "cancelledAt"): number {
    let n = 0;
    for (const booking of this.bookings.values()) if (booking[milestone] !== undefined) n += 1;
    return n;
  }
}
