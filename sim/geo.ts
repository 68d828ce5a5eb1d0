/**
 * Pune's geometry for the simulation: the hubs where freight starts and ends, points near
 * them, and the routes trucks drive (a straight line, or a dog-leg through one junction,
 * with GPS jitter), sampled at the app's reporting interval at truck speeds.
 */
import type { Rng } from "./random.js";

export interface LatLng {
  lat: number;
  lng: number;
}

/** A hub of the city: industrial estates, markets and warehouse belts around Pune. */
export interface Hub extends LatLng {
  name: string;
}

export const PUNE_HUBS: readonly Hub[] = [
  { name: "Hinjewadi", lat: 18.5912, lng: 73.7389 },
  { name: "Bhosari MIDC", lat: 18.6298, lng: 73.847 },
  { name: "Chakan MIDC", lat: 18.7606, lng: 73.8636 },
  { name: "Hadapsar", lat: 18.5089, lng: 73.926 },
  { name: "Market Yard", lat: 18.487, lng: 73.864 },
  { name: "Kharadi", lat: 18.5515, lng: 73.9348 },
  { name: "Talawade", lat: 18.6848, lng: 73.7788 },
  { name: "Kothrud", lat: 18.5074, lng: 73.8077 },
  { name: "Wagholi", lat: 18.5808, lng: 73.9787 },
  { name: "Shivajinagar", lat: 18.5308, lng: 73.8475 },
];

const EARTH_RADIUS_M = 6_371_008.8;
const rad = (deg: number) => (deg * Math.PI) / 180;
const deg = (r: number) => (r * 180) / Math.PI;

/** Great-circle distance in metres. */
export function distanceM(a: LatLng, b: LatLng): number {
  const dLat = rad(b.lat - a.lat);
  const dLng = rad(b.lng - a.lng);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLng / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Initial bearing from a to b, degrees clockwise from north in [0, 360). */
export function bearingDeg(a: LatLng, b: LatLng): number {
  const y = Math.sin(rad(b.lng - a.lng)) * Math.cos(rad(b.lat));
  const x =
    Math.cos(rad(a.lat)) * Math.sin(rad(b.lat)) -
    Math.sin(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.cos(rad(b.lng - a.lng));
  return (deg(Math.atan2(y, x)) + 360) % 360;
}

/** The point `distance` metres from `from` on the given bearing. */
export function offset(from: LatLng, bearing: number, distance: number): LatLng {
  const d = distance / EARTH_RADIUS_M;
  const b = rad(bearing);
  const lat1 = rad(from.lat);
  const lng1 = rad(from.lng);
  const lat2 = Math.asin(Math.sin(lat1) * Math.cos(d) + Math.cos(lat1) * Math.sin(d) * Math.cos(b));
  const lng2 =
    lng1 + Math.atan2(Math.sin(b) * Math.sin(d) * Math.cos(lat1), Math.cos(d) - Math.sin(lat1) * Math.sin(lat2));
  return { lat: round7(deg(lat2)), lng: round7(deg(lng2)) };
}

/** Degrees to 7 decimals (about 1 cm), as a phone reports them. */
const round7 = (v: number) => Math.round(v * 1e7) / 1e7;

/** A point between minM and maxM metres from center, in a random direction. */
export function pointNear(rng: Rng, center: LatLng, minM: number, maxM: number): LatLng {
  return offset(center, rng.between(0, 360), rng.between(minM, maxM));
}

/** The point a fraction t (0..1) of the way from a to b (straight, fine at city scale). */
export function lerp(a: LatLng, b: LatLng, t: number): LatLng {
  return { lat: a.lat + (b.lat - a.lat) * t, lng: a.lng + (b.lng - a.lng) * t };
}

/** One GPS fix of a drive, before it gets a sequence number and a time. */
export interface RoutePoint extends LatLng {
  /** Ground speed the device reports, m/s. */
  speedMps: number;
  /** Heading, degrees from north. */
  heading: number;
}

export interface RouteOptions {
  /** Cruising speed, m/s. */
  speedMps: number;
  /** Time between fixes, ms. */
  tickMs: number;
  /** Largest GPS error added to a fix, metres. */
  jitterM: number;
  /** A dog-leg through one junction off the straight line instead of the straight line. */
  dogLeg: boolean;
}

/**
 * The fixes of a drive from `from` to `to`: one per tick at the cruising speed, along a
 * straight line or through one junction set off to the side (a simple road), each with up to
 * jitterM of GPS error, the last one exactly at the destination. Never empty.
 */
export function route(rng: Rng, from: LatLng, to: LatLng, options: RouteOptions): RoutePoint[] {
  const legs: [LatLng, LatLng][] = [];
  const straight = distanceM(from, to);
  if (options.dogLeg && straight > 200) {
    // A junction at the middle, set off sideways by up to a third of the trip.
    const middle = lerp(from, to, rng.between(0.35, 0.65));
    const side = (bearingDeg(from, to) + (rng.chance(0.5) ? 90 : 270)) % 360;
    const junction = offset(middle, side, rng.between(0.1, 0.33) * straight);
    legs.push([from, junction], [junction, to]);
  } else {
    legs.push([from, to]);
  }
  const step = options.speedMps * (options.tickMs / 1000);
  const points: RoutePoint[] = [];
  let carried = 0; // metres already driven past the last fix at the start of a leg
  for (const [a, b] of legs) {
    const length = distanceM(a, b);
    const heading = bearingDeg(a, b);
    let at = step - carried;
    while (at < length - 1) {
      const exact = lerp(a, b, at / length);
      const fix = options.jitterM > 0 ? offset(exact, rng.between(0, 360), rng.between(0, options.jitterM)) : exact;
      points.push({ ...fix, speedMps: round1(options.speedMps * rng.between(0.9, 1.1)), heading: Math.round(heading) });
      at += step;
    }
    carried = length - (at - step);
  }
  // The arrival fix is exact and still rolling (never mistaken for a parked truck's jitter).
  points.push({
    lat: round7(to.lat),
    lng: round7(to.lng),
    speedMps: ARRIVAL_SPEED_MPS,
    heading: points.at(-1)?.heading ?? Math.round(bearingDeg(from, to)),
  });
  return points;
}

const round1 = (v: number) => Math.round(v * 10) / 10;

/** Speed reported by the last fix of a drive, as the truck rolls up to the stop. */
export const ARRIVAL_SPEED_MPS = 2;

/** Largest speed (km/h) implied by consecutive fixes spaced tickMs apart: what the server's jump filter sees. */
export function maxImpliedSpeedKmph(points: readonly LatLng[], tickMs: number): number {
  let max = 0;
  for (let i = 1; i < points.length; i++)
    max = Math.max(max, (distanceM(points[i - 1]!, points[i]!) / (tickMs / 1000)) * 3.6);
  return max;
}
