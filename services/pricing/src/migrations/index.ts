import type { Migration } from "kysely";
import * as createPricingTables from "./2026_11_26_001_create_pricing_tables.js";
import * as seedVehicleTypes from "./2026_11_26_002_seed_vehicle_types.js";
import * as quoteRedemption from "./2026_12_06_001_quote_redemption.js";
import * as vehicleCountAsContract from "./2026_12_07_001_vehicle_count_as_contract.js";

/** Every migration of the pricing schema, by name; names sort in the order they run. */
export const pricingMigrations: Record<string, Migration> = {
  "2026_11_26_001_create_pricing_tables": createPricingTables,
  "2026_11_26_002_seed_vehicle_types": seedVehicleTypes,
  "2026_12_06_001_quote_redemption": quoteRedemption,
  "2026_12_07_001_vehicle_count_as_contract": vehicleCountAsContract,
};
