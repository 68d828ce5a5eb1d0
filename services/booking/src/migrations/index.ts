import type { Migration } from "kysely";
import * as createBookingTables from "./2026_11_27_001_create_booking_tables.js";
import * as tripCodeAttempts from "./2026_11_27_002_trip_code_attempts.js";
import * as weightAsContract from "./2026_12_07_001_weight_as_contract.js";
import * as opsSearchIndexes from "./2026_12_07_002_ops_search_indexes.js";

/** Every migration of the booking schema, by name; names sort in the order they run. */
export const bookingMigrations: Record<string, Migration> = {
  "2026_11_27_001_create_booking_tables": createBookingTables,
  "2026_11_27_002_trip_code_attempts": tripCodeAttempts,
  "2026_12_07_001_weight_as_contract": weightAsContract,
  "2026_12_07_002_ops_search_indexes": opsSearchIndexes,
};
