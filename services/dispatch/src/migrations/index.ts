import type { Migration } from "kysely";
import * as createDispatchTables from "./2026_11_26_001_create_dispatch_tables.js";
import * as renameSyncToBookingCall from "./2026_12_06_001_rename_sync_to_booking_call.js";
import * as vehicleCountAsContract from "./2026_12_07_001_vehicle_count_as_contract.js";
import * as opsConsole from "./2026_12_07_002_ops_console.js";

/** Every migration of the dispatch schema, by name; names sort in the order they run. */
export const dispatchMigrations: Record<string, Migration> = {
  "2026_11_26_001_create_dispatch_tables": createDispatchTables,
  "2026_12_06_001_rename_sync_to_booking_call": renameSyncToBookingCall,
  "2026_12_07_001_vehicle_count_as_contract": vehicleCountAsContract,
  "2026_12_07_002_ops_console": opsConsole,
};
