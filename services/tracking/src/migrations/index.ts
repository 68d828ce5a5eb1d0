import type { Migration } from "kysely";
import * as createTripPoints from "./2026_11_27_001_create_trip_points.js";
import * as createTrips from "./2026_11_28_001_create_trips.js";
import * as addTripAssignment from "./2026_11_29_001_add_trip_assignment.js";
import * as createDriverNotices from "./2026_12_07_001_create_driver_notices.js";

/** Every migration of the tracking schema, by name; names sort in the order they run. */
export const trackingMigrations: Record<string, Migration> = {
  "2026_11_27_001_create_trip_points": createTripPoints,
  "2026_11_28_001_create_trips": createTrips,
  "2026_11_29_001_add_trip_assignment": addTripAssignment,
  "2026_12_07_001_create_driver_notices": createDriverNotices,
};
