import type { Migration } from "kysely";
import * as createAuditEntries from "./2026_12_07_001_create_audit_entries.js";

/** Every migration of the ops schema, by name; names sort in the order they run. */
export const opsMigrations: Record<string, Migration> = {
  "2026_12_07_001_create_audit_entries": createAuditEntries,
};
