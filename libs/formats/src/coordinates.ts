/**
 * Coordinates, as every service reads them: finite, latitude within ±90° and longitude within
 * ±180°. (0, 0), "null island", is what a broken GPS or an unset field reports: nowhere a truck
 * in India can be, so callers that take a place refuse it too.
 */
export function isOnEarth(lat: number, lng: number): boolean {
  return Number.isFinite(lat) && Number.isFinite(lng) && Math.abs(lat) <= 90 && Math.abs(lng) <= 180;
}

/** Finite, in range, and not (0, 0). */
export function coordinateVerdict(lat: number, lng: number): "ok" | "invalid" | "null_island" {
  if (!isOnEarth(lat, lng)) return "invalid";
  if (Math.abs(lat) < 1e-6 && Math.abs(lng) < 1e-6) return "null_island";
  return "ok";
}
