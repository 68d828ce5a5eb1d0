export { startNotification, type NotificationModule, type NotificationModuleOptions } from "./notification.module.js";
export {
  loadNotificationConfig,
  notificationConfigSchema,
  notificationProductionRules,
  notificationRules,
  type NotificationConfig,
} from "./notification.config.js";
export type { NotificationService } from "./notification.service.js";
/** Its schema migrations, for the migrate one-shot (system/src/migrate.ts). */
export { notificationMigrations } from "./migrations/index.js";
