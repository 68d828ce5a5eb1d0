/**
 * What to tell whom: events → messages (recipients, kind, criticality). Pure functions,
 * unit-tested without I/O. The texts themselves are notification.texts.ts, re-exported here.
 */
import { bookingRef, type Kind, rupees, type Stop } from "./notification.texts.js";

export * from "./notification.texts.js";

/** Kinds that fall back to SMS when no push reached the user. */
export const CRITICAL_KINDS: ReadonlySet<Kind> = new Set<Kind>(["driver_assigned", "driver_at_dropoff"]);

/** One message to one user, before rendering. */
export interface PlannedMessage {
  recipientId: string;
  kind: Kind;
  bookingId: string;
  /** Values the texts use, and that the app receives as data (all strings). */
  params: Record<string, string>;
}

/** Booking statuses as the events carry them (the domain words). */
export type BookingStatusWord =
  | "pending"
  | "confirmed"
  | "assigned"
  | "driver_en_route"
  | "at_pickup"
  | "in_transit"
  | "at_dropoff"
  | "completed"
  | "cancelled"
  | "unknown";

const CUSTOMER_KIND_BY_STATUS: Partial<Record<BookingStatusWord, Kind>> = {
  confirmed: "booking_confirmed",
  assigned: "driver_assigned",
  at_pickup: "driver_at_pickup",
  in_transit: "trip_started",
  at_dropoff: "driver_at_dropoff",
  completed: "delivered",
};

const base = (bookingId: string, extra: Record<string, string | undefined> = {}): Record<string, string> => {
  const params: Record<string, string> = { booking_id: bookingId, ref: bookingRef(bookingId) };
  for (const [key, value] of Object.entries(extra)) if (value) params[key] = value;
  return params;
};

export function planBookingCreated(e: {
  bookingId: string;
  customerId: string;
  pickupCity: string;
  dropCity: string;
}): PlannedMessage[] {
  if (!e.customerId) return [];
  return [
    {
      recipientId: e.customerId,
      kind: "booking_placed",
      bookingId: e.bookingId,
      params: base(e.bookingId, { pickup_city: e.pickupCity, drop_city: e.dropCity }),
    },
  ];
}

export interface StatusChange {
  bookingId: string;
  to: BookingStatusWord;
  customerId: string;
  driverUserId: string;
  cancellationFeePaise: number;
  /** Who made the change ("ops": the operations team, through the ops console); "" when not told. */
  actorRole?: string;
  /** Why, when a reason was given. */
  reason?: string;
  /** booking.reassigned: the driver released. */
  previousDriverUserId?: string;
}

/** booking.status_changed: the customer hears of each step that matters to them; an assignment also reaches the driver. */
export function planStatusChanged(e: StatusChange): PlannedMessage[] {
  const out: PlannedMessage[] = [];
  const kind = CUSTOMER_KIND_BY_STATUS[e.to];
  if (kind && e.customerId)
    out.push({ recipientId: e.customerId, kind, bookingId: e.bookingId, params: base(e.bookingId) });
  if (e.to === "assigned" && e.driverUserId)
    out.push({
      recipientId: e.driverUserId,
      kind: "new_assignment",
      bookingId: e.bookingId,
      params: base(e.bookingId),
    });
  return out;
}

/** booking.cancelled: the customer (with the fee, if any) and the assigned driver. */
export function planCancelled(e: StatusChange): PlannedMessage[] {
  const out: PlannedMessage[] = [];
  if (e.customerId) {
    out.push({
      recipientId: e.customerId,
      kind: "booking_cancelled",
      bookingId: e.bookingId,
      params: base(e.bookingId, {
        fee: e.cancellationFeePaise > 0 ? rupees(e.cancellationFeePaise) : undefined,
        // Cancelled by the operations team: the customer is told so, and why.
        by_ops: e.actorRole === "ops" ? "1" : undefined,
        reason: e.actorRole === "ops" ? e.reason : undefined,
      }),
    });
  }
  if (e.driverUserId && e.driverUserId !== e.customerId)
    out.push({
      recipientId: e.driverUserId,
      kind: "trip_cancelled",
      bookingId: e.bookingId,
      params: base(e.bookingId),
    });
  return out;
}

/**
 * booking.reassigned (operations moved the trip to another driver and truck of the same
 * transporter): the customer hears a new driver is on the way, the new driver gets the trip as
 * an assignment, and the driver released is told not to go.
 */
export function planReassigned(e: StatusChange): PlannedMessage[] {
  const out: PlannedMessage[] = [];
  if (e.customerId)
    out.push({
      recipientId: e.customerId,
      kind: "driver_assigned",
      bookingId: e.bookingId,
      params: base(e.bookingId, { reassigned: "1" }),
    });
  if (e.driverUserId && e.driverUserId !== e.customerId)
    out.push({
      recipientId: e.driverUserId,
      kind: "new_assignment",
      bookingId: e.bookingId,
      params: base(e.bookingId),
    });
  if (e.previousDriverUserId && e.previousDriverUserId !== e.driverUserId && e.previousDriverUserId !== e.customerId)
    out.push({
      recipientId: e.previousDriverUserId,
      kind: "trip_cancelled",
      bookingId: e.bookingId,
      params: base(e.bookingId, { reassigned: "1" }),
    });
  return out;
}

/** booking.reopened: the customer learns another truck is being found. */
export function planReopened(e: StatusChange): PlannedMessage[] {
  return e.customerId
    ? [{ recipientId: e.customerId, kind: "booking_reopened", bookingId: e.bookingId, params: base(e.bookingId) }]
    : [];
}

/** booking.expired: no transporter took the booking in time. */
export function planExpired(e: { bookingId: string; customerId: string }): PlannedMessage[] {
  return e.customerId
    ? [{ recipientId: e.customerId, kind: "booking_expired", bookingId: e.bookingId, params: base(e.bookingId) }]
    : [];
}

/** tracking.geofence.arriving / arrived: the customer. */
export function planGeofence(e: {
  bookingId: string;
  customerId: string;
  arrived: boolean;
  stop: Stop;
}): PlannedMessage[] {
  if (!e.customerId) return [];
  return [
    {
      recipientId: e.customerId,
      kind: e.arrived ? "driver_arrived" : "driver_arriving",
      bookingId: e.bookingId,
      params: base(e.bookingId, { stop: e.stop }),
    },
  ];
}

/** tracking.driver_dark: the transporter whose driver went silent. */
export function planDriverDark(e: {
  bookingId: string;
  transporterId: string;
  silentSeconds: number;
}): PlannedMessage[] {
  if (!e.transporterId) return [];
  const minutes = String(Math.max(1, Math.round(e.silentSeconds / 60)));
  return [
    {
      recipientId: e.transporterId,
      kind: "driver_dark",
      bookingId: e.bookingId,
      params: base(e.bookingId, { silent_minutes: minutes }),
    },
  ];
}

export interface OfferEvent {
  offerId: string;
  /** Offers are for an order (one or several trucks); the reference read out is the order's. */
  orderId: string;
  bookingIds: readonly string[];
  transporterId: string;
  /** offer_created only: the transporter holds a live WatchOffers stream (no push needed). */
  transporterOnline?: boolean;
  farePaise?: number;
  vehicleCount?: number;
  pickupCity?: string;
  dropCity?: string;
}

function offerMessage(kind: Kind, e: OfferEvent, extra: Record<string, string | undefined> = {}): PlannedMessage {
  const params: Record<string, string> = { order_id: e.orderId, offer_id: e.offerId, ref: bookingRef(e.orderId) };
  for (const [key, value] of Object.entries(extra)) if (value) params[key] = value;
  // The booking, when the offer is for one truck; an order of several has no single booking.
  return { recipientId: e.transporterId, kind, bookingId: e.bookingIds.length === 1 ? e.bookingIds[0]! : "", params };
}

/** A new offer: a push only to a transporter who is not watching offers live. */
export function planOfferCreated(e: OfferEvent): PlannedMessage[] {
  if (!e.transporterId || e.transporterOnline) return [];
  return [
    offerMessage("new_offer", e, {
      fare: e.farePaise ? rupees(e.farePaise) : undefined,
      vehicle_count: e.vehicleCount ? String(e.vehicleCount) : undefined,
      pickup_city: e.pickupCity,
      drop_city: e.dropCity,
    }),
  ];
}

/** dispatch.wave_sent: every offer of the wave, as a new offer (pushed to the transporters not watching live). */
export function planWaveSent(
  e: Omit<OfferEvent, "offerId" | "transporterId" | "transporterOnline"> & {
    offers: readonly { offerId: string; transporterId: string; transporterOnline: boolean }[];
  },
): PlannedMessage[] {
  const { offers, ...order } = e;
  return offers.flatMap((offer) => planOfferCreated({ ...order, ...offer }));
}

/** dispatch.offer_withdrawn: the offer closed without the transporter's answer. */
export function planOfferWithdrawn(e: OfferEvent): PlannedMessage[] {
  return e.transporterId ? [offerMessage("offer_withdrawn", e)] : [];
}

/** dispatch.offer_accepted: confirms the acceptance, with what to do next. */
export function planOfferAccepted(e: OfferEvent): PlannedMessage[] {
  return e.transporterId
    ? [
        offerMessage("offer_accepted", e, {
          vehicle_count: e.bookingIds.length ? String(e.bookingIds.length) : undefined,
        }),
      ]
    : [];
}

// ─── delivery outcome ──────────────────────────────────────────────────────────────────────

/** What one push attempt did for one user. */
export interface PushOutcome {
  /** Devices that accepted the message. */
  delivered: number;
  /** Tokens the provider says are dead (to remove). */
  invalidTokens: string[];
  /** Devices that failed for another reason (provider trouble: worth a retry). */
  failed: number;
}

/**
 * Whether an event is too old to push or text about (a backlog after an outage, or a consumer
 * created on a stream with history): it still goes to the inbox, but a late "driver arriving"
 * on the phone would mislead. An event without a time is taken as fresh.
 */
export function isStale(occurredAt: Date | undefined, now: Date, maxAgeMs: number): boolean {
  return occurredAt !== undefined && now.getTime() - occurredAt.getTime() > maxAgeMs;
}

/**
 * Whether a message needs SMS: only critical ones, and only when no device got the push
 * (no devices, every token dead, or the provider failing).
 */
export function needsSmsFallback(kind: Kind, push: PushOutcome | "unavailable"): boolean {
  if (!CRITICAL_KINDS.has(kind)) return false;
  return push === "unavailable" || push.delivered === 0;
}
