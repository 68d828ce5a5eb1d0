/**
 * The distance estimate used when no road routing answers: the great-circle (haversine)
 * distance times a road factor (roads wind; 1.3 is a common average for Indian cities and
 * highways), and a driving time at an assumed average truck speed. Pure functions.
 */

export interface LatLngPoint {
  lat: number;
  lng: number;
}

/** Mean radius of the earth in metres (IUGG). */
const EARTH_RADIUS_M = 6_371_008.8;

const toRadians = (degrees: number) => (degrees * Math.PI) / 180;

/** Great-circle distance between two points in metres (haversine formula). */
export function haversineMeters(a: LatLngPoint, b: LatLngPoint): number {
  const dLat = toRadians(b.lat - a.lat);
  const dLng = toRadians(b.lng - a.lng);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(toRadians(a.lat)) * Math.cos(toRadians(b.lat)) * Math.sin(dLng / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

export interface EstimateSettings {
  /** Road distance ÷ straight-line distance, e.g. 1.3. */
  roadFactor: number;
  /** Average speed of a loaded truck in km/h, traffic and stops included. */
  averageSpeedKmph: number;
}

/** Road distance (whole metres) and driving time (whole seconds) estimated from the straight line. */
export function estimateRoad(
  from: LatLngPoint,
  to: LatLngPoint,
  settings: EstimateSettings,
): { distanceM: number; durationS: number } {
  const distanceM = Math.round(haversineMeters(from, to) * settings.roadFactor);
  const durationS = Math.round(distanceM / ((settings.averageSpeedKmph * 1000) / 3600));
  return { distanceM, durationS };
}
