/** GetBookingPath: a trip's breadcrumb for the ops console, any booking (GetTripPath's answer without the customer check). */
import { InvalidArgumentError } from "@weelo/errors";
import type { Kysely } from "kysely";
import { tripPoints } from "./tracking.repository.js";
import { pathLengthM } from "./tracking.rules.js";
import type { TrackingDatabase } from "./tracking.table.js";

const MAX_PATH_POINTS = 100_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface BookingPath {
  points: { seq: number; recordedAt: Date; lat: number; lng: number; speedMps: number; heading: number }[];
  distanceM: number;
}

/** The accepted points of the booking's trip in recording order; none when tracking never had a trip of it. */
export async function bookingPath(db: Kysely<TrackingDatabase>, bookingId: string): Promise<BookingPath> {
  if (!UUID.test(bookingId)) throw new InvalidArgumentError("booking_id", "booking_id must be a booking id (a UUID)");
  const rows = await tripPoints(db, bookingId, MAX_PATH_POINTS);
  const points = rows.map((r) => ({
    seq: Number(r.seq),
    recordedAt: r.recorded_at,
    lat: r.lat,
    lng: r.lng,
    speedMps: r.speed_mps,
    heading: r.heading,
  }));
  return { points, distanceM: pathLengthM(points) };
}
