/** Table types of the tracking schema (kysely). */
import type { OutboxTable } from "@weelo/outbox";
import type { ColumnType, Generated, Selectable } from "kysely";

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

/** A booking's trip as tracking knows it from booking's events (see trips.repository.ts). */
export interface TripsTable {
  booking_id: string;
  customer_id: Generated<string>;
  transporter_id: string | null;
  driver_id: string | null;
  pickup_lat: number | null;
  pickup_lng: number | null;
  drop_lat: number | null;
  drop_lng: number | null;
  /** The vehicle the driver drives for it (from the booking's ASSIGNED), while assigned. */
  vehicle_id: string | null;
  /** The stops' names for the driver's app (the booking's cities). */
  pickup_place: Generated<string>;
  drop_place: Generated<string>;
  /** The booking's status, lower case ("assigned", "in_transit", …). */
  status: Generated<string>;
  /** A driver is on the trip (ASSIGNED up to AT_DROPOFF). */
  active: Generated<boolean>;
  active_since: Date | null;
  booking_sequence: ColumnType<string, number | string | undefined, number | string>;
  version: ColumnType<string, number | string | undefined, number | string>;
  event_sequence: ColumnType<string, number | string | undefined, number | string>;
  pickup_arriving_at: Date | null;
  pickup_arrived_at: Date | null;
  drop_arriving_at: Date | null;
  drop_arrived_at: Date | null;
  dark_at: Date | null;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export type TripRow = Selectable<TripsTable>;

/** Per driver, the last trip taken away from them, repeated when their stream opens (see driver-notices.repository.ts). */
export interface DriverNoticesTable {
  driver_id: string;
  booking_id: string;
  kind: "cancelled" | "reopened";
  reason: string;
  /** The booking event's id, which the live command carried too. */
  command_id: string;
  issued_at: Date;
}

export interface TrackingDatabase {
  trip_points: TripPointsTable;
  trips: TripsTable;
  driver_notices: DriverNoticesTable;
  outbox: OutboxTable;
}
