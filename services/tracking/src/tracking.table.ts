/** Table types of the tracking schema (kysely). */
import type { ColumnType } from "kysely";

/** int8 comes back as a string from pg and PGlite alike. */
type BigIntColumn = ColumnType<string, number | string, number | string>;

export interface TripPointsTable {
  booking_id: string;
  driver_id: string;
  /** The app's sequence number: with the booking and driver, the key that makes a re-sent point a no-op. */
  seq: BigIntColumn;
  recorded_at: Date;
  lat: number;
  lng: number;
  accuracy_m: number;
  speed_mps: number;
  heading: number;
}

export interface TrackingDatabase {
  trip_points: TripPointsTable;
}
