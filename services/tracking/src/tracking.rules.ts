/**
 * The point filters and the geometry they need: plain functions, no I/O. A point is either
 * accepted (a new breadcrumb and latest position), jitter (refreshes last-seen only) or
 * rejected for one reason; every outcome is counted.
 */
import { coordinateVerdict } from "@weelo/formats";

/** A fix as the app sent it (recordedAt in ms since epoch; undefined when missing). */
export interface RawPoint {
  seq: number;
  recordedAt: number | undefined;
  lat: number;
  lng: number;
  accuracyM: number;
  speedMps: number;
  heading: number;
}

/** A fix that passed the filters: it has a time (clamped to the server clock), an accuracy and a speed of 0 or more and a heading in [0, 360). */
export interface AcceptedPoint extends Omit<RawPoint, "recordedAt"> {
  recordedAt: number;
}

export interface FilterLimits {
  maxClockSkewMs: number;
  maxPointAgeMs: number;
  maxAccuracyM: number;
  maxSpeedKmph: number;
  jitterM: number;
}

/** Why a fix is refused ("invalid": its coordinates); each one is told to the app in its ack. */
export type Rejection =
  | "invalid"
  | "null_island"
  | "missing_time"
  | "future"
  | "too_old"
  | "inaccurate"
  | "invalid_accuracy"
  | "invalid_speed"
  | "invalid_heading"
  | "impossible_jump";
export type PointOutcome = "accepted" | "jitter" | "duplicate" | Rejection;

export const POINT_OUTCOMES: readonly PointOutcome[] = [
  "accepted",
  "jitter",
  "duplicate",
  "invalid",
  "null_island",
  "missing_time",
  "future",
  "too_old",
  "inaccurate",
  "invalid_accuracy",
  "invalid_speed",
  "invalid_heading",
  "impossible_jump",
];

/** Below this speed (m/s) a truck counts as stopped for the jitter filter. */
export const STOPPED_SPEED_MPS = 0.5;

export type FilterVerdict =
  | { outcome: "accepted"; point: AcceptedPoint }
  | { outcome: "jitter"; point: AcceptedPoint }
  | { outcome: Rejection };

const EARTH_RADIUS_M = 6_371_008.8;
const rad = (deg: number) => (deg * Math.PI) / 180;

/** Great-circle distance in metres. */
export function haversineM(a: { lat: number; lng: number }, b: { lat: number; lng: number }): number {
  const dLat = rad(b.lat - a.lat);
  const dLng = rad(b.lng - a.lng);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLng / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Sum of the distances between consecutive points, in metres. */
export function pathLengthM(points: readonly { lat: number; lng: number }[]): number {
  let total = 0;
  for (let i = 1; i < points.length; i++) total += haversineM(points[i - 1]!, points[i]!);
  return total;
}

/**
 * Each reading of the device in its range: accuracy and speed not negative (0 means unknown),
 * heading from 0 to 360 degrees (0 when unknown); NaN and infinities are out of every range.
 */
export function readingsVerdict(
  point: Pick<RawPoint, "accuracyM" | "speedMps" | "heading">,
): "ok" | "invalid_accuracy" | "invalid_speed" | "invalid_heading" {
  if (!Number.isFinite(point.accuracyM) || point.accuracyM < 0) return "invalid_accuracy";
  if (!Number.isFinite(point.speedMps) || point.speedMps < 0) return "invalid_speed";
  if (!Number.isFinite(point.heading) || point.heading < 0 || point.heading > 360) return "invalid_heading";
  return "ok";
}

/**
 * Runs every filter on one fix against the last accepted fix of the driver. `now` is the
 * server clock (ms). Order: coordinates, time present, readings in range, time in range,
 * accuracy, jump, jitter.
 */
export function filterPoint(
  point: RawPoint,
  last: AcceptedPoint | undefined,
  now: number,
  limits: FilterLimits,
): FilterVerdict {
  const coordinates = coordinateVerdict(point.lat, point.lng);
  if (coordinates !== "ok") return { outcome: coordinates };
  if (point.recordedAt === undefined || !Number.isFinite(point.recordedAt)) return { outcome: "missing_time" };
  const readings = readingsVerdict(point);
  if (readings !== "ok") return { outcome: readings };
  let recordedAt = point.recordedAt;
  if (recordedAt > now) {
    if (recordedAt - now > limits.maxClockSkewMs) return { outcome: "future" };
    recordedAt = now;
  }
  if (now - recordedAt > limits.maxPointAgeMs) return { outcome: "too_old" };
  if (point.accuracyM > limits.maxAccuracyM) return { outcome: "inaccurate" };
  const accepted: AcceptedPoint = {
    seq: point.seq,
    recordedAt,
    lat: point.lat,
    lng: point.lng,
    accuracyM: point.accuracyM,
    speedMps: point.speedMps,
    heading: point.heading % 360, // 360 is north, like 0
  };
  if (!last) return { outcome: "accepted", point: accepted };
  const distance = haversineM(last, accepted);
  if (distance < limits.jitterM && accepted.speedMps < STOPPED_SPEED_MPS) return { outcome: "jitter", point: accepted };
  if (impliedSpeedKmph(distance, recordedAt - last.recordedAt) > limits.maxSpeedKmph)
    return { outcome: "impossible_jump" };
  return { outcome: "accepted", point: accepted };
}

/**
 * Speed needed to cover the distance in the time (km/h). A fix recorded at or before the
 * reference fix gets one second of slack, so a small move with an equal timestamp is not
 * a jump, but a long one is.
 */
export function impliedSpeedKmph(distanceM: number, elapsedMs: number): number {
  const seconds = Math.max(1, elapsedMs / 1000);
  return (distanceM / seconds) * 3.6;
}

// ---------------------------------------------------------------------------------- trip rules

/** A ring entered by a trip's points: which, by which point, how far from the stop. */
export interface RingEntry {
  ring: "arriving" | "arrived";
  point: AcceptedPoint;
  distanceM: number;
}

/**
 * The rings around a stop that these points (in sequence order) enter for the first time:
 * the first point inside each ring not already fired. A point straight inside the inner ring
 * enters both (arriving first).
 */
export function ringsEntered(
  stop: { lat: number; lng: number },
  points: readonly AcceptedPoint[],
  fired: { arriving: boolean; arrived: boolean },
  radii: { arrivingM: number; arrivedM: number },
): RingEntry[] {
  const entries: RingEntry[] = [];
  let arriving = fired.arriving;
  let arrived = fired.arrived;
  for (const point of points) {
    if (arriving && arrived) break;
    const distanceM = haversineM(point, stop);
    if (!arriving && distanceM <= radii.arrivingM) {
      arriving = true;
      entries.push({ ring: "arriving", point, distanceM });
    }
    if (!arrived && distanceM <= radii.arrivedM) {
      arrived = true;
      entries.push({ ring: "arrived", point, distanceM });
    }
  }
  return entries;
}

/** "850 m", "2.3 km", "42 km": a distance as a driver reads it. */
export function formatDistance(m: number): string {
  if (m < 1000) return `${Math.round(m)} m`;
  if (m < 10_000) return `${(m / 1000).toFixed(1)} km`;
  return `${Math.round(m / 1000)} km`;
}

export type ArrivalRefusal = "DRIVER_POSITION_UNKNOWN" | "DRIVER_POSITION_STALE" | "NOT_AT_STOP";

/** Whether a driver is at a stop (last position within the arrived radius and fresh), with how far they are, or why not. */
export function arrivalVerdict(
  stopName: "pickup" | "drop",
  last: { lat: number; lng: number; lastSeenAt: number } | undefined,
  stop: { lat: number; lng: number },
  now: number,
  limits: { arrivedM: number; maxAgeMs: number },
):
  | { arrived: true; distanceM: number }
  | { arrived: false; reason: ArrivalRefusal; message: string; distanceM?: number } {
  const where = stopName === "pickup" ? "the pickup" : "the drop";
  if (!last) {
    return {
      arrived: false,
      reason: "DRIVER_POSITION_UNKNOWN",
      message: `the driver's position is unknown: share location from the app and try again within ${formatDistance(limits.arrivedM)} of ${where}`,
    };
  }
  const ageMs = now - last.lastSeenAt;
  if (ageMs > limits.maxAgeMs) {
    return {
      arrived: false,
      reason: "DRIVER_POSITION_STALE",
      message: `the driver's last position is ${Math.round(ageMs / 60_000)} min old: share location from the app and try again within ${formatDistance(limits.arrivedM)} of ${where}`,
    };
  }
  const distanceM = haversineM(last, stop);
  if (distanceM > limits.arrivedM) {
    return {
      arrived: false,
      reason: "NOT_AT_STOP",
      message: `driver is ${formatDistance(distanceM)} from ${where}; arrive within ${formatDistance(limits.arrivedM)}`,
      distanceM,
    };
  }
  return { arrived: true, distanceM };
}

/** Finite, in range, and not (0,0) ("null island": what a broken GPS reports); one rule for every service. */
export { coordinateVerdict };
