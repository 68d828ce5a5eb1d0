import type { Migration } from "kysely";
import * as createBookingTables from "./2026_11_27_001_create_booking_tables.js";

/** Every migration of the booking schema, by name; names sort in the order they run. */
export const bookingMigrations: Record<string, Migration> = {
  "2026_11_27_001_create_booking_tables": createBookingTables,
};
