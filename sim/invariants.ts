/**
 * The invariants checked at the end of a run, as plain functions over what the simulation
 * recorded and what the system answered when asked afterwards (GetBooking, GetTripPath).
 * Each returns the violations it found, in words that name the booking and what was wrong.
 */

export type Status =
  | "PENDING"
  | "CONFIRMED"
  | "ASSIGNED"
  | "DRIVER_EN_ROUTE"
  | "AT_PICKUP"
  | "IN_TRANSIT"
  | "AT_DROPOFF"
  | "COMPLETED"
  | "CANCELLED";

export const TERMINAL: ReadonlySet<Status> = new Set(["COMPLETED", "CANCELLED"]);

/** One entry of a booking's history as GetBooking returned it at the end. */
export interface HistoryEntry {
  sequence: number;
  from: Status | undefined;
  to: Status;
  /** Server time of the change, ms. */
  at: number;
  reopened: boolean;
}

/** A booking as the system reported it at the end of the run. */
export interface FinalBooking {
  id: string;
  orderId: string;
  status: Status;
  driverId: string;
  vehicleId: string;
  history: readonly HistoryEntry[];
}

/** What a customer's WatchBooking stream delivered, over all its reconnects, in arrival order. */
export type WatchMessage =
  | { kind: "state"; sequence: number; status: Status }
  | { kind: "change"; sequence: number; from: Status | undefined; to: Status };

export interface Violation {
  invariant:
    | "terminal"
    | "over_accepted"
    | "double_trip"
    | "points_stored"
    | "watch_order"
    | "progress"
    /** A stream's memory grew past its bound (a slow consumer's). */
    | "stream_memory"
    /** Dispatch work (waves, deadlines, booking calls) or outbox rows still overdue after a restart had settled. */
    | "work_due";
  bookingId?: string;
  message: string;
}

// ---------------------------------------------------------------------------------------------

/**
 * Every booking is terminal (COMPLETED or CANCELLED), or its state is explained: the
 * explanation (why the run left it there, e.g. "broadcast still open until 10:42:07") comes
 * from the simulation, which knows what it was waiting for.
 */
export function checkTerminal(
  bookings: readonly FinalBooking[],
  explanations: ReadonlyMap<string, string>,
): Violation[] {
  const violations: Violation[] = [];
  for (const booking of bookings) {
    if (TERMINAL.has(booking.status) || explanations.has(booking.id)) continue;
    violations.push({
      invariant: "terminal",
      bookingId: booking.id,
      message: `booking ${booking.id} ended the run ${booking.status} with nothing to explain it`,
    });
  }
  return violations;
}

/** A successful AcceptOffer, as the transporter's app saw it. */
export interface Acceptance {
  orderId: string;
  transporter: string;
  bookingIds: readonly string[];
  at: number;
}

/**
 * No order is accepted beyond its trucks: the bookings handed out for an order are its own,
 * no more than vehicle_count of them, and no booking is handed to two acceptances unless it
 * was reopened (given up, back to PENDING) in between.
 */
export function checkOverAcceptance(
  orders: ReadonlyMap<string, { vehicleCount: number; bookingIds: readonly string[] }>,
  acceptances: readonly Acceptance[],
  bookings: readonly FinalBooking[],
): Violation[] {
  const violations: Violation[] = [];
  const reopens = new Map<string, number>();
  for (const booking of bookings) reopens.set(booking.id, booking.history.filter((h) => h.reopened).length);
  const byOrder = new Map<string, Acceptance[]>();
  for (const acceptance of acceptances)
    byOrder.set(acceptance.orderId, [...(byOrder.get(acceptance.orderId) ?? []), acceptance]);
  for (const [orderId, list] of byOrder) {
    const order = orders.get(orderId);
    if (!order) {
      violations.push({
        invariant: "over_accepted",
        message: `acceptances of order ${orderId}, which no customer of this run booked`,
      });
      continue;
    }
    const handedOut = new Map<string, number>();
    for (const acceptance of list) {
      for (const id of acceptance.bookingIds) {
        if (!order.bookingIds.includes(id))
          violations.push({
            invariant: "over_accepted",
            bookingId: id,
            message: `order ${orderId} accepted with booking ${id}, which is not one of its bookings`,
          });
        handedOut.set(id, (handedOut.get(id) ?? 0) + 1);
      }
    }
    for (const [id, times] of handedOut) {
      if (times > 1 + (reopens.get(id) ?? 0)) {
        violations.push({
          invariant: "over_accepted",
          bookingId: id,
          message: `booking ${id} of order ${orderId} was handed to ${times} acceptances but reopened only ${reopens.get(id) ?? 0} times`,
        });
      }
    }
    if (handedOut.size > order.vehicleCount) {
      violations.push({
        invariant: "over_accepted",
        message: `order ${orderId} of ${order.vehicleCount} trucks had ${handedOut.size} bookings accepted`,
      });
    }
  }
  return violations;
}

/** When a booking occupied its (final) driver and vehicle: from its last assignment to its end. */
export function occupation(booking: FinalBooking): { from: number; to: number } | undefined {
  const assigned = booking.history.filter((h) => h.to === "ASSIGNED").at(-1);
  if (!assigned) return undefined;
  const end = booking.history.find((h) => h.sequence > assigned.sequence && (TERMINAL.has(h.to) || h.reopened));
  return { from: assigned.at, to: end ? end.at : Number.POSITIVE_INFINITY };
}

/**
 * No driver and no vehicle is on two active trips at once: the occupations of the bookings
 * of one driver (and of one vehicle) never overlap, as the server's own history times them.
 */
export function checkExclusiveTrips(bookings: readonly FinalBooking[]): Violation[] {
  const violations: Violation[] = [];
  for (const key of ["driverId", "vehicleId"] as const) {
    const byHolder = new Map<string, { id: string; from: number; to: number }[]>();
    for (const booking of bookings) {
      const holder = booking[key];
      const span = occupation(booking);
      if (!holder || !span) continue;
      byHolder.set(holder, [...(byHolder.get(holder) ?? []), { id: booking.id, ...span }]);
    }
    for (const [holder, spans] of byHolder) {
      spans.sort((a, b) => a.from - b.from);
      for (let i = 1; i < spans.length; i++) {
        const previous = spans[i - 1]!;
        const next = spans[i]!;
        if (next.from < previous.to) {
          const who = key === "driverId" ? "driver" : "vehicle";
          violations.push({
            invariant: "double_trip",
            bookingId: next.id,
            message: `${who} ${holder} was on bookings ${previous.id} and ${next.id} at once (${next.id} assigned before ${previous.id} ended)`,
          });
        }
      }
    }
  }
  return violations;
}

/** The location points of one trip: what the driver's app had acknowledged, and the stored path. */
export interface TripPoints {
  bookingId: string;
  /** Sequence numbers sent while on the trip, acknowledged by the server, that the filters must keep (moving fixes). */
  acked: readonly number[];
  /** Sequence numbers in GetTripPath; undefined when the path could not be read. */
  stored: readonly number[] | undefined;
}

/** Every acknowledged point of a trip is in its stored path. */
export function checkPointsStored(trips: readonly TripPoints[]): Violation[] {
  const violations: Violation[] = [];
  for (const trip of trips) {
    if (trip.acked.length === 0) continue;
    if (!trip.stored) {
      violations.push({
        invariant: "points_stored",
        bookingId: trip.bookingId,
        message: `the path of booking ${trip.bookingId} could not be read (${trip.acked.length} acknowledged points)`,
      });
      continue;
    }
    const stored = new Set(trip.stored);
    const missing = trip.acked.filter((seq) => !stored.has(seq));
    if (missing.length > 0) {
      violations.push({
        invariant: "points_stored",
        bookingId: trip.bookingId,
        message: `booking ${trip.bookingId}: ${missing.length} of ${trip.acked.length} acknowledged points missing from the stored path (seq ${describeSeqs(missing)})`,
      });
    }
  }
  return violations;
}

/** "3-7, 12" for [3,4,5,6,7,12]. */
export function describeSeqs(seqs: readonly number[]): string {
  const sorted = [...seqs].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.length > 6 ? `${parts.slice(0, 6).join(", ")}, …` : parts.join(", ");
}

/**
 * Every status change is seen, in order, on the customer's watch stream: after the first
 * state the stream delivered, every change of the booking's history arrives once, in
 * sequence order, with the statuses the history has, none missing up to the end of the run.
 * Reconnects (a new first state, then changes after the last sequence seen) are allowed.
 */
export function checkWatchOrder(booking: FinalBooking, messages: readonly WatchMessage[]): Violation[] {
  const fail = (message: string): Violation[] => [
    { invariant: "watch_order", bookingId: booking.id, message: `booking ${booking.id}: ${message}` },
  ];
  const first = messages[0];
  if (!first) return fail("its customer's watch stream delivered nothing");
  if (first.kind !== "state") return fail("the watch stream did not start with the booking's state");
  const history = new Map(booking.history.map((h) => [h.sequence, h]));
  // The history is read once at the end; a change made after that read cannot be checked against it.
  const lastInHistory = Math.max(-1, ...booking.history.map((h) => h.sequence));
  let last = first.sequence;
  let status = first.status;
  for (const message of messages.slice(1)) {
    if (message.kind === "state") {
      // A reconnect: the current state again; it may be ahead of what was seen (changes follow).
      continue;
    }
    if (message.sequence !== last + 1)
      return fail(`change ${message.sequence} arrived after change ${last} (expected ${last + 1})`);
    const entry = history.get(message.sequence);
    if (!entry && message.sequence > lastInHistory) break;
    if (!entry) return fail(`change ${message.sequence} is not in the booking's history`);
    if (entry.to !== message.to)
      return fail(`change ${message.sequence} said ${message.to}, the history says ${entry.to}`);
    if (message.from !== undefined && message.from !== status)
      return fail(`change ${message.sequence} moved from ${message.from}, but the stream last showed ${status}`);
    last = message.sequence;
    status = message.to;
  }
  if (last < lastInHistory) {
    const missed = booking.history.filter((h) => h.sequence > last).map((h) => `${h.sequence}:${h.to}`);
    return fail(
      `the watch stream stopped at change ${last} (${status}); the history goes on with ${missed.join(", ")}`,
    );
  }
  return [];
}

/**
 * The marketplace worked end to end at all: a run that booked trucks and had free trucks
 * completed at least one trip (otherwise every other check could pass on an idle system).
 */
export function checkProgress(bookings: readonly FinalBooking[], trucks: number): Violation[] {
  if (bookings.length === 0 || trucks === 0) return [];
  if (bookings.some((b) => b.status === "COMPLETED")) return [];
  const statuses = new Map<string, number>();
  for (const b of bookings) statuses.set(b.status, (statuses.get(b.status) ?? 0) + 1);
  return [
    {
      invariant: "progress",
      message: `none of ${bookings.length} bookings was completed with ${trucks} trucks in the city (${[...statuses].map(([s, n]) => `${n} ${s}`).join(", ")})`,
    },
  ];
}
