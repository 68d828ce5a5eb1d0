/**
 * Pricing's business rules as plain functions: what a valid trip request is, how a fare is
 * computed in integer paise, when the night charge applies, and how demand and supply make
 * a surge multiplier. No I/O here.
 *
 * Money is integer paise throughout. Floats appear only for distances and multipliers, and
 * each is turned into an integer once (metres, hundredths of a multiplier) before it touches
 * money; every division rounds half up, explicitly, in one helper.
 */
import { InvalidArgumentError } from "@weelo/errors";
import { haversineMeters, type LatLngPoint } from "./routing/estimate.js";

// ─── Trip validation ────────────────────────────────────────────────────────────────────────

/** India's bounding box: where pickups and drops may be. */
export const INDIA_BOUNDS = { minLat: 6, maxLat: 37.6, minLng: 68, maxLng: 97.5 } as const;
/** Pickup and drop closer than this are the same place. */
export const MIN_TRIP_DISTANCE_M = 50;
/** A scheduled time this little in the past is clock skew between phone and server, not a mistake. */
export const SCHEDULE_CLOCK_SKEW_MS = 2 * 60_000;

/** A point of a request: present, numeric and inside India. */
export function validateLocation(point: LatLngPoint | undefined, field: "pickup" | "drop"): LatLngPoint {
  if (!point) throw new InvalidArgumentError(field, `${field} is required`, { reason: "LOCATION_REQUIRED" });
  const { lat, lng } = point;
  if (!Number.isFinite(lat) || !Number.isFinite(lng)) {
    throw new InvalidArgumentError(field, `${field} must have numeric lat and lng`, { reason: "LOCATION_INVALID" });
  }
  if (
    lat < INDIA_BOUNDS.minLat ||
    lat > INDIA_BOUNDS.maxLat ||
    lng < INDIA_BOUNDS.minLng ||
    lng > INDIA_BOUNDS.maxLng
  ) {
    throw new InvalidArgumentError(
      field,
      `${field} must be in India (latitude ${INDIA_BOUNDS.minLat} to ${INDIA_BOUNDS.maxLat}, longitude ${INDIA_BOUNDS.minLng} to ${INDIA_BOUNDS.maxLng}); got ${lat}, ${lng}`,
      { reason: "OUTSIDE_SERVICE_AREA" },
    );
  }
  return { lat, lng };
}

/** Pickup and drop must be different places. */
export function validateTrip(pickup: LatLngPoint, drop: LatLngPoint): void {
  if (haversineMeters(pickup, drop) < MIN_TRIP_DISTANCE_M) {
    throw new InvalidArgumentError("drop", `drop must be at least ${MIN_TRIP_DISTANCE_M} m away from pickup`, {
      reason: "TRIP_TOO_SHORT",
    });
  }
}

/** A vehicle type id as the catalog spells it: trimmed and lower case; empty is refused. */
export function normalizeVehicleTypeId(id: string): string {
  const normalized = id.trim().toLowerCase();
  if (normalized === "") {
    throw new InvalidArgumentError(
      "vehicle_type",
      "vehicle_type is required (an id from ListVehicleTypes, e.g. mini_truck)",
      {
        reason: "VEHICLE_TYPE_REQUIRED",
      },
    );
  }
  return normalized;
}

/** A scheduled pickup: not in the past (beyond clock skew) and not more than maxAheadMs ahead. */
export function validateScheduledAt(scheduledAt: Date | undefined, now: Date, maxAheadMs: number): Date | undefined {
  if (scheduledAt === undefined) return undefined;
  const at = scheduledAt.getTime();
  if (!Number.isFinite(at))
    throw new InvalidArgumentError("scheduled_at", "scheduled_at is not a valid time", { reason: "SCHEDULE_INVALID" });
  if (at < now.getTime() - SCHEDULE_CLOCK_SKEW_MS) {
    throw new InvalidArgumentError("scheduled_at", "scheduled_at is in the past; leave it unset for a trip now", {
      reason: "SCHEDULE_IN_PAST",
    });
  }
  if (at > now.getTime() + maxAheadMs) {
    const days = Math.round(maxAheadMs / 86_400_000);
    throw new InvalidArgumentError("scheduled_at", `scheduled_at may be at most ${days} days ahead`, {
      reason: "SCHEDULE_TOO_FAR",
    });
  }
  return scheduledAt;
}

// ─── Money ──────────────────────────────────────────────────────────────────────────────────

/**
 * a × b ÷ d rounded half up, for non-negative integers: the one place where money is divided.
 * Computed in BigInt so the product never loses precision.
 */
export function mulDivRoundHalfUp(a: number, b: number, d: number): number {
  for (const [name, value] of [
    ["a", a],
    ["b", b],
    ["d", d],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError(`mulDivRoundHalfUp: ${name} must be a non-negative safe integer, got ${value}`);
  }
  if (d === 0) throw new RangeError("mulDivRoundHalfUp: division by zero");
  const divisor = BigInt(d);
  const result = (BigInt(a) * BigInt(b) * 2n + divisor) / (2n * divisor);
  return toSafeNumber(result);
}

function toSafeNumber(value: bigint): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number)) throw new RangeError(`amount ${value} is too large`);
  return number;
}

/** The tariff of a vehicle type, in paise. */
export interface Tariff {
  baseFarePaise: number;
  perKmPaise: number;
  minBillableKm: number;
}

export interface FareInput {
  tariff: Tariff;
  /** Trip distance in whole metres. */
  distanceM: number;
  /** True when the pickup time is in the night window. */
  night: boolean;
  /** Night surcharge in basis points of base fare + distance charge (1000 = 10 %). */
  nightChargeBps: number;
  /** Surge multiplier (1 = none); rounded to hundredths before use. */
  surgeMultiplier: number;
  /** GST rate in basis points (500 = 5 %). */
  gstRateBps: number;
}

/** The price of one vehicle, line by line, in paise. */
export interface FareBreakdown {
  baseFarePaise: number;
  billableDistanceM: number;
  perKmPaise: number;
  distanceChargePaise: number;
  night: boolean;
  /** The night rate applied: the configured rate at night, 0 by day. */
  nightChargeBps: number;
  nightChargePaise: number;
  /** The multiplier applied, in hundredths exactly (1.25, never 1.2499999). */
  surgeMultiplier: number;
  surgeChargePaise: number;
  subtotalPaise: number;
  gstRateBps: number;
  gstPaise: number;
  totalPaise: number;
}

/**
 * The fare of one vehicle:
 * - billable distance = max(trip distance, minimum billable km), in metres;
 * - distance charge = billable metres × per-km rate ÷ 1000, rounded half up;
 * - core = base fare + distance charge;
 * - night charge = core × night rate (bps) ÷ 10 000, rounded half up, only at night;
 * - surge charge = core × (multiplier − 1), with the multiplier in hundredths, rounded half up;
 * - subtotal = core + night charge + surge charge;
 * - GST = subtotal × GST rate (bps) ÷ 10 000, rounded half up; total = subtotal + GST.
 * Night and surge are both computed on the core, so they add up instead of compounding.
 */
export function computeFare(input: FareInput): FareBreakdown {
  const { tariff } = input;
  if (!Number.isSafeInteger(input.distanceM) || input.distanceM < 0)
    throw new RangeError(`distanceM must be whole metres, got ${input.distanceM}`);
  const billableDistanceM = Math.max(input.distanceM, tariff.minBillableKm * 1000);
  const distanceChargePaise = mulDivRoundHalfUp(billableDistanceM, tariff.perKmPaise, 1000);
  const corePaise = tariff.baseFarePaise + distanceChargePaise;
  const nightChargeBps = input.night ? input.nightChargeBps : 0;
  const nightChargePaise = mulDivRoundHalfUp(corePaise, nightChargeBps, 10_000);
  const surgeHundredths = multiplierToHundredths(input.surgeMultiplier);
  const surgeChargePaise = mulDivRoundHalfUp(corePaise, surgeHundredths - 100, 100);
  const subtotalPaise = corePaise + nightChargePaise + surgeChargePaise;
  const gstPaise = mulDivRoundHalfUp(subtotalPaise, input.gstRateBps, 10_000);
  return {
    baseFarePaise: tariff.baseFarePaise,
    billableDistanceM,
    perKmPaise: tariff.perKmPaise,
    distanceChargePaise,
    night: input.night,
    nightChargeBps,
    nightChargePaise,
    surgeMultiplier: surgeHundredths / 100,
    surgeChargePaise,
    subtotalPaise,
    gstRateBps: input.gstRateBps,
    gstPaise,
    totalPaise: subtotalPaise + gstPaise,
  };
}

/** The order total: every vehicle pays the same fare. */
export function orderTotalPaise(perVehicleTotalPaise: number, vehicleCount: number): number {
  const total = perVehicleTotalPaise * vehicleCount;
  if (!Number.isSafeInteger(total)) throw new RangeError(`order total ${total} is too large`);
  return total;
}

/** A multiplier as whole hundredths (1.25 → 125), never below 100. */
export function multiplierToHundredths(multiplier: number): number {
  if (!Number.isFinite(multiplier) || multiplier < 1) return 100;
  return Math.round(multiplier * 100);
}

// ─── Night window ───────────────────────────────────────────────────────────────────────────

/** India Standard Time is UTC+05:30 all year (no daylight saving). */
export const IST_OFFSET_MINUTES = 330;

/** "22:00" → 1320 (minutes after midnight). */
export function parseClockTime(text: string): number {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text.trim());
  if (!match) throw new RangeError(`"${text}" is not a time of day like 22:00`);
  return Number(match[1]) * 60 + Number(match[2]);
}

/** Minutes after midnight, India time, of an instant. */
export function istMinuteOfDay(at: Date): number {
  const minutes = Math.floor(at.getTime() / 60_000) + IST_OFFSET_MINUTES;
  return ((minutes % 1440) + 1440) % 1440;
}

/**
 * Whether an instant falls in the night window [start, end) of India time, in minutes after
 * midnight. A window whose start is after its end crosses midnight (22:00–06:00); equal start
 * and end mean no night window.
 */
export function isNightTime(at: Date, window: { startMinute: number; endMinute: number }): boolean {
  const { startMinute, endMinute } = window;
  if (startMinute === endMinute) return false;
  const minute = istMinuteOfDay(at);
  return startMinute < endMinute
    ? minute >= startMinute && minute < endMinute
    : minute >= startMinute || minute < endMinute;
}

// ─── Surge ──────────────────────────────────────────────────────────────────────────────────

/** Live demand says little about a pickup hours away: surge applies to pickups within this long from now. */
export const SURGE_HORIZON_MS = 60 * 60_000;

/** Whether today's live surge applies to a pickup at `pickupAt`. */
export function surgeApplies(pickupAt: Date, now: Date): boolean {
  return pickupAt.getTime() - now.getTime() <= SURGE_HORIZON_MS;
}

export interface SurgeSettings {
  /** How strongly excess demand raises the price: 0.5 means demand twice the supply gives 1.5×. */
  factor: number;
  /** The highest multiplier, e.g. 2. */
  cap: number;
}

/**
 * The surge multiplier for open bookings (demand, in vehicles) against online drivers (supply)
 * near the pickup: clamp(1 + factor × (demand ÷ supply − 1), 1, cap) when demand exceeds
 * supply, else 1; rounded down to hundredths (never above the cap). Supply is counted as at least one driver, so one
 * open booking in an area with nobody online does not jump to the cap, while real excess
 * demand there still raises the price.
 */
export function surgeMultiplier(demand: number, supply: number, settings: SurgeSettings): number {
  const wanted = Math.max(0, Number.isFinite(demand) ? demand : 0);
  const available = Math.max(1, Number.isFinite(supply) ? supply : 0);
  if (wanted <= available) return 1;
  const raw = 1 + settings.factor * (wanted / available - 1);
  const clamped = Math.min(Math.max(raw, 1), Math.max(1, settings.cap));
  // The epsilon keeps 1.15 (114.999… in binary) at 1.15 when rounding down.
  return Math.floor(clamped * 100 + 1e-9) / 100;
}
