import type { Migration } from "kysely";
import * as createFleetTables from "./2026_11_26_001_create_fleet_tables.js";
import * as createTripHolds from "./2026_12_06_001_create_trip_holds.js";
import * as capacityAsContract from "./2026_12_07_001_capacity_as_contract.js";

/** Every migration of the fleet schema, by name; names sort in the order they run. */
export const fleetMigrations: Record<string, Migration> = {
  "2026_11_26_001_create_fleet_tables": createFleetTables,
  "2026_12_06_001_create_trip_holds": createTripHolds,
  "2026_12_07_001_capacity_as_contract": capacityAsContract,
};
