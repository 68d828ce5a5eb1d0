/**
 * Booking's pure rules: the status machine, who may make which change, the cancellation fee,
 * the checks of a request against its quote, validation, page tokens. No I/O: unit-tested
 * without a server.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import {
  FailedPreconditionError,
  InvalidArgumentError,
  PermissionDeniedError,
  ResourceExhaustedError,
} from "@weelo/errors";
import { isOnEarth, normalizeIndianPhone, plainText } from "@weelo/formats";
import type { ActorRole, BookingStatus, StoredAddress } from "./booking.table.js";
// Ids and page tokens are shared API formats; re-exported so booking's rules read as one list.
export {
  validateId,
  pageSize,
  encodePageToken,
  decodePageToken,
  pageOf,
  DEFAULT_PAGE_SIZE,
  MAX_PAGE_SIZE,
} from "@weelo/formats";

/** Upper-case word of a status for messages, e.g. "IN_TRANSIT". */
export const statusWord = (status: BookingStatus) => status.toUpperCase();

/** The trip steps the assigned driver makes, each from exactly one status. */
export const DRIVER_STEPS: Readonly<Partial<Record<BookingStatus, BookingStatus>>> = {
  driver_en_route: "assigned",
  at_pickup: "driver_en_route",
  in_transit: "at_pickup",
  at_dropoff: "in_transit",
  completed: "at_dropoff",
};

/** The steps dispatch makes. */
export const DISPATCH_STEPS: Readonly<Partial<Record<BookingStatus, BookingStatus>>> = {
  confirmed: "pending",
  assigned: "confirmed",
};

/** Every legal transition: from → the statuses it may go to. The status change itself refuses any other. */
export const TRANSITIONS: Readonly<Record<BookingStatus, readonly BookingStatus[]>> = {
  pending: ["confirmed", "cancelled"],
  confirmed: ["assigned", "pending", "cancelled"],
  assigned: ["driver_en_route", "pending", "cancelled"],
  driver_en_route: ["at_pickup", "pending", "cancelled"],
  at_pickup: ["in_transit", "pending", "cancelled"],
  in_transit: ["at_dropoff"],
  at_dropoff: ["completed"],
  completed: [],
  cancelled: [],
};

/**
 * The edges only operations may take, on top of TRANSITIONS: cancelling a booking whatever its
 * status short of the end (the goods may be loaded: operations settle that outside the app),
 * and reassigning an ASSIGNED or DRIVER_EN_ROUTE booking to another driver (back to ASSIGNED).
 */
export const OPS_TRANSITIONS: Readonly<Partial<Record<BookingStatus, readonly BookingStatus[]>>> = {
  assigned: ["assigned"],
  driver_en_route: ["assigned"],
  in_transit: ["cancelled"],
  at_dropoff: ["cancelled"],
};

/** Statuses a booking never leaves. */
export const TERMINAL_STATUSES: readonly BookingStatus[] = ["completed", "cancelled"];

export function isLegalTransition(from: BookingStatus, to: BookingStatus, actor?: ActorRole): boolean {
  return TRANSITIONS[from].includes(to) || (actor === "ops" && (OPS_TRANSITIONS[from] ?? []).includes(to));
}

/** Refuses (FAILED_PRECONDITION ILLEGAL_STATUS_TRANSITION) a change the transition table does not allow to this actor. */
export function checkTransition(from: BookingStatus, to: BookingStatus, actor?: ActorRole): void {
  if (!isLegalTransition(from, to, actor)) throw illegalTransition(from, to);
}

export function illegalTransition(current: BookingStatus, requested: BookingStatus): FailedPreconditionError {
  return new FailedPreconditionError(
    `the booking is ${statusWord(current)} and cannot become ${statusWord(requested)}`,
    {
      reason: "ILLEGAL_STATUS_TRANSITION",
      field: "status",
    },
  );
}

/** How the caller stands to a booking; undefined means a stranger (who gets NOT_FOUND). */
export type Relation = "customer" | "transporter" | "driver";

export function relationTo(
  booking: { customer_id: string; transporter_id: string | null; driver_user_id: string | null },
  principal: { role: string; userId: string },
): Relation | undefined {
  if (principal.role === "customer" && principal.userId === booking.customer_id) return "customer";
  if (
    principal.role === "transporter" &&
    booking.transporter_id !== null &&
    principal.userId === booking.transporter_id
  )
    return "transporter";
  if (principal.role === "driver" && booking.driver_user_id !== null && principal.userId === booking.driver_user_id)
    return "driver";
  return undefined;
}

/** Which code a driver step needs. */
export type CodeKind = "pickup" | "delivery";

/**
 * A driver's step: the assigned driver only (others are refused by the caller as strangers or
 * with PERMISSION_DENIED), one step at a time. Returns the code the step needs, if any.
 */
export function planDriverStep(
  current: BookingStatus,
  requested: BookingStatus,
  relation: Relation | undefined,
): { code: CodeKind | undefined } {
  const from = DRIVER_STEPS[requested];
  if (from === undefined) {
    throw new InvalidArgumentError(
      "status",
      "status must be DRIVER_EN_ROUTE, AT_PICKUP, IN_TRANSIT, AT_DROPOFF or COMPLETED",
      { reason: "STATUS_NOT_ALLOWED" },
    );
  }
  if (relation !== "driver")
    throw new PermissionDeniedError("only the assigned driver moves the trip", { reason: "NOT_ASSIGNED_DRIVER" });
  if (current !== from) throw illegalTransition(current, requested);
  return { code: requested === "in_transit" ? "pickup" : requested === "completed" ? "delivery" : undefined };
}

/** A dispatch step (PENDING → CONFIRMED, CONFIRMED → ASSIGNED). */
export function checkDispatchStep(current: BookingStatus, requested: BookingStatus): void {
  if (DISPATCH_STEPS[requested] !== current) throw illegalTransition(current, requested);
}

/** Dispatch's reopen (CONFIRMED or ASSIGNED → PENDING). */
export const DISPATCH_REOPENABLE: readonly BookingStatus[] = ["confirmed", "assigned"];
/** Operations' reopen through dispatch (also after the driver set off). */
export const OPS_REOPENABLE: readonly BookingStatus[] = ["confirmed", "assigned", "driver_en_route"];
/** Operations' reassignment to another driver and vehicle of the same transporter. */
export const OPS_REASSIGNABLE: readonly BookingStatus[] = ["assigned", "driver_en_route"];
/** A transporter or driver giving a booking up before loading puts it back to PENDING. */
export const PARTICIPANT_REOPENABLE: readonly BookingStatus[] = [
  "confirmed",
  "assigned",
  "driver_en_route",
  "at_pickup",
];

export function checkReopen(current: BookingStatus, allowed: readonly BookingStatus[]): void {
  if (!allowed.includes(current)) throw illegalTransition(current, "pending");
}

export interface CancellationFeeRule {
  /** Basis points of the fare. */
  percentBps: number;
  /** The smallest fee, in paise. */
  minPaise: number;
}

/** The late-cancellation fee: a share of the fare, at least the minimum, never more than the fare. */
export function cancellationFee(farePaise: number, rule: CancellationFeeRule): number {
  const share = Math.floor((farePaise * rule.percentBps) / 10_000);
  return Math.min(farePaise, Math.max(rule.minPaise, share));
}

/** The customer's cancellation: free before a driver is assigned, with a fee until loading, never after. */
export function planCustomerCancellation(
  current: BookingStatus,
  farePaise: number,
  rule: CancellationFeeRule,
): { feePaise: number } {
  switch (current) {
    case "pending":
    case "confirmed":
      return { feePaise: 0 };
    case "assigned":
    case "driver_en_route":
    case "at_pickup":
      return { feePaise: cancellationFee(farePaise, rule) };
    case "in_transit":
    case "at_dropoff":
    case "completed":
      throw new FailedPreconditionError(
        `the booking is ${statusWord(current)}: the goods are loaded, so it can no longer be cancelled`,
        {
          reason: "CANCELLATION_TOO_LATE",
        },
      );
    case "cancelled":
      throw new FailedPreconditionError("the booking is already cancelled", { reason: "ALREADY_CANCELLED" });
  }
}

/** Who makes a change, as recorded. */
export function actorRoleOf(relation: Relation): ActorRole {
  return relation;
}

/** Constant-time comparison of a trip code. */
export function codeMatches(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given.trim());
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A wrong code, saying how many tries are left before code entry is locked. */
export function codeRefusal(kind: CodeKind, attemptsLeft: number, lockMinutes: number): InvalidArgumentError {
  const left =
    attemptsLeft > 0
      ? `${attemptsLeft} ${attemptsLeft === 1 ? "try" : "tries"} left before code entry is locked for ${lockMinutes} minutes`
      : `code entry is now locked for ${lockMinutes} minutes`;
  return kind === "pickup"
    ? new InvalidArgumentError(
        "code",
        `the pickup code is wrong; ask the customer for the 4-digit pickup code (${left})`,
        { reason: "PICKUP_CODE_INVALID" },
      )
    : new InvalidArgumentError(
        "code",
        `the delivery code is wrong; ask the receiver for the 4-digit delivery code (${left})`,
        { reason: "DELIVERY_CODE_INVALID" },
      );
}

/** Code entry refused while locked after too many wrong codes. */
export function codeLocked(kind: CodeKind, lockedUntil: Date, now: Date): ResourceExhaustedError {
  const seconds = Math.max(1, Math.ceil((lockedUntil.getTime() - now.getTime()) / 1000));
  const who = kind === "pickup" ? "the customer" : "the receiver";
  return new ResourceExhaustedError(
    `too many wrong ${kind} codes: code entry is locked for ${Math.ceil(seconds / 60)} more minute(s); check the code with ${who}`,
    { reason: "TRIP_CODE_LOCKED", field: "code", retryAfterSeconds: seconds },
  );
}

// ---------------------------------------------------------------------------------------------
// Quotes

export interface Point {
  lat: number;
  lng: number;
}

/** Great-circle distance in metres (haversine). */
export function distanceMeters(a: Point, b: Point): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLng = (b.lng - a.lng) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLng / 2) ** 2;
  return 2 * 6_371_000 * Math.asin(Math.min(1, Math.sqrt(h)));
}

export interface QuotedTerms {
  vehicleType: string;
  vehicleCount: number;
  pickup: Point;
  drop: Point;
  scheduledAt: Date | undefined;
}

/** The request must book what was quoted: same vehicles, same points (within the tolerance), same time. */
export function checkRequestMatchesQuote(quote: QuotedTerms, request: QuotedTerms, toleranceM: number): void {
  const mismatch = (field: string, what: string) =>
    new InvalidArgumentError(field, `${what} differs from the quote's; get a new quote for this trip`, {
      reason: "QUOTE_MISMATCH",
    });
  if (quote.vehicleType !== request.vehicleType) throw mismatch("vehicle_type", "vehicle_type");
  if (quote.vehicleCount !== request.vehicleCount) throw mismatch("vehicle_count", "vehicle_count");
  if (distanceMeters(quote.pickup, request.pickup) > toleranceM)
    throw mismatch("pickup.location", "the pickup location");
  if (distanceMeters(quote.drop, request.drop) > toleranceM) throw mismatch("drop.location", "the drop location");
  const a = quote.scheduledAt?.getTime();
  const b = request.scheduledAt?.getTime();
  if ((a === undefined) !== (b === undefined) || (a !== undefined && b !== undefined && Math.abs(a - b) > 60_000)) {
    throw mismatch("scheduled_at", "scheduled_at");
  }
}

// ---------------------------------------------------------------------------------------------
// Validation

export { validateIdempotencyKey } from "@weelo/formats";

// How long each text may be is its field's rule in the contract (weelo.common.v1.text_max_len),
// checked before a handler runs; here only what a proto cannot say (see plainText).
export function validateGoodsType(goods: string): string {
  return plainText(goods, "goods_type", { required: true });
}

/** Free text (see plainText): line breaks and tabs only where `multiline` (notes). */
export function validateText(text: string, field: string, multiline = false): string {
  return plainText(text, field, { multiline });
}

export function validatePoint(point: Point | undefined, field: string): Point {
  if (!point || !isOnEarth(point.lat, point.lng) || (point.lat === 0 && point.lng === 0)) {
    throw new InvalidArgumentError(field, `${field} must be a point with lat in [-90, 90] and lng in [-180, 180]`);
  }
  return { lat: point.lat, lng: point.lng };
}

export interface AddressInput {
  line1: string;
  line2: string;
  landmark: string;
  city: string;
  state: string;
  pincode: string;
  location?: Point | undefined;
  contactName: string;
  contactPhone: string;
}

export function validateAddress(address: AddressInput | undefined, field: string): StoredAddress {
  if (!address) throw new InvalidArgumentError(field, `${field} is required`);
  const line1 = validateText(address.line1, `${field}.line1`);
  if (line1 === "") throw new InvalidArgumentError(`${field}.line1`, `${field}.line1 is required`);
  const contactName = validateText(address.contactName, `${field}.contact_name`);
  if (contactName === "") throw new InvalidArgumentError(`${field}.contact_name`, `${field}.contact_name is required`);
  const pincode = address.pincode; // empty or six digits: the contract's rule (weelo.common.v1.pincode)
  return {
    line1,
    line2: validateText(address.line2, `${field}.line2`),
    landmark: validateText(address.landmark, `${field}.landmark`),
    city: validateText(address.city, `${field}.city`),
    state: validateText(address.state, `${field}.state`),
    pincode,
    location: validatePoint(address.location, `${field}.location`),
    contactName,
    contactPhone: normalizeIndianPhone(address.contactPhone, `${field}.contact_phone`),
  };
}

/** A scheduled pickup time: in the future and at most maxAheadDays ahead. */
export function validateScheduledAt(at: Date | undefined, now: Date, maxAheadDays: number): Date | undefined {
  if (at === undefined) return undefined;
  if (Number.isNaN(at.getTime()) || at.getTime() <= now.getTime())
    throw new InvalidArgumentError("scheduled_at", "scheduled_at must be in the future; leave it unset for a trip now");
  if (at.getTime() > now.getTime() + maxAheadDays * 86_400_000) {
    throw new InvalidArgumentError("scheduled_at", `scheduled_at must be at most ${maxAheadDays} days ahead`);
  }
  return at;
}

/** When booking.created goes out: now for a trip now, leadMinutes before the pickup otherwise (never before now). */
export function broadcastAt(scheduledAt: Date | undefined, now: Date, leadMinutes: number): Date {
  if (!scheduledAt) return now;
  return new Date(Math.max(now.getTime(), scheduledAt.getTime() - leadMinutes * 60_000));
}

/** The hash that tells a retry (same request) from a different request under the same idempotency key. */
export function requestHash(request: unknown): string {
  return createHash("sha256").update(canonicalJson(request)).digest("hex");
}

/** JSON with object keys sorted at every depth, and undefined left out: one text per value. */
export function canonicalJson(value: unknown): string {
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
