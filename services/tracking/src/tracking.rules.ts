/**
 * The point filters and the geometry they need: plain functions, no I/O. A point is either
 * accepted (a new breadcrumb and latest position), jitter (refreshes last-seen only) or
 * rejected for one reason; every outcome is counted.
 */

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

/** A fix that passed the filters (recordedAt clamped). */
export interface AcceptedPoint {
  seq: number;
  recordedAt: number;
  lat: number;
  lng: number;
  accuracyM: number;
  speedMps: number;
  heading: number;
}

export interface FilterLimits {
  maxClockSkewMs: number;
  maxPointAgeMs: number;
  maxAccuracyM: number;
  maxSpeedKmph: number;
  jitterM: number;
}

export type Rejection = "invalid" | "null_island" | "future" | "too_old" | "inaccurate" | "impossible_jump";
export type PointOutcome = "accepted" | "jitter" | "duplicate" | Rejection;

export const POINT_OUTCOMES: readonly PointOutcome[] = [
  "accepted",
  "jitter",
  "duplicate",
  "invalid",
  "null_island",
  "future",
  "too_old",
  "inaccurate",
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

/** Finite, in range, and not (0,0) ("null island": what a broken GPS reports). */
export function coordinateVerdict(lat: number, lng: number): "ok" | "invalid" | "null_island" {
  if (!Number.isFinite(lat) || !Number.isFinite(lng) || lat < -90 || lat > 90 || lng < -180 || lng > 180) return "invalid";
  if (Math.abs(lat) < 1e-6 && Math.abs(lng) < 1e-6) return "null_island";
  return "ok";
}

/**
 * Runs every filter on one fix against the last accepted fix of the driver. `now` is the
 * server clock (ms). Order: coordinates, time, accuracy, jump, jitter.
 */
export function filterPoint(point: RawPoint, last: AcceptedPoint | undefined, now: number, limits: FilterLimits): FilterVerdict {
  const coordinates = coordinateVerdict(point.lat, point.lng);
  if (coordinates !== "ok") return { outcome: coordinates };
  if (point.recordedAt === undefined || !Number.isFinite(point.recordedAt)) return { outcome: "invalid" };
  if (!Number.isFinite(point.accuracyM) || !Number.isFinite(point.speedMps) || !Number.isFinite(point.heading)) return { outcome: "invalid" };
  let recordedAt = point.recordedAt;
  if (recordedAt > now) {
    if (recordedAt - now > limits.maxClockSkewMs) return { outcome: "future" };
    recordedAt = now;
  }
  if (now - recordedAt > limits.maxPointAgeMs) return { outcome: "too_old" };
  if (point.accuracyM < 0 || point.accuracyM > limits.maxAccuracyM) return { outcome: "inaccurate" };
  const accepted: AcceptedPoint = {
    seq: point.seq,
    recordedAt,
    lat: point.lat,
    lng: point.lng,
    accuracyM: point.accuracyM,
    speedMps: Math.max(0, point.speedMps),
    heading: ((point.heading % 360) + 360) % 360,
  };
  if (!last) return { outcome: "accepted", point: accepted };
  const distance = haversineM(last, accepted);
  if (distance < limits.jitterM && accepted.speedMps < STOPPED_SPEED_MPS) return { outcome: "jitter", point: accepted };
  if (impliedSpeedKmph(distance, recordedAt - last.recordedAt) > limits.maxSpeedKmph) return { outcome: "impossible_jump" };
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
