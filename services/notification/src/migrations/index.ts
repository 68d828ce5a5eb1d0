import type { Migration } from "kysely";
import * as createNotificationTables from "./2026_11_26_001_create_notification_tables.js";
import * as indexDeliveryClaims from "./2026_11_26_002_index_delivery_claims.js";

/** Every migration of the notification schema, by name; names sort in the order they run. */
export const notificationMigrations: Record<string, Migration> = {
  "2026_11_26_001_create_notification_tables": createNotificationTables,
  "2026_11_26_002_index_delivery_claims": indexDeliveryClaims,
};
