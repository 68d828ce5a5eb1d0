import type { Migration } from "kysely";
import * as createIdentityTables from "./2026_11_26_001_create_identity_tables.js";
import * as addUserBlocking from "./2026_12_06_001_add_user_blocking.js";
import * as opsRole from "./2026_12_07_001_ops_role.js";

/** Every migration of the identity schema, by name; names sort in the order they run. */
export const identityMigrations: Record<string, Migration> = {
  "2026_11_26_001_create_identity_tables": createIdentityTables,
  "2026_12_06_001_add_user_blocking": addUserBlocking,
  "2026_12_07_001_ops_role": opsRole,
};
