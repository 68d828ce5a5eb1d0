export { startNotification, type NotificationModule, type NotificationModuleOptions } from "./notification.module.js";
export {
  loadNotificationConfig,
  notificationConfigSchema,
  notificationProductionRules,
  notificationRules,
  type NotificationConfig,
} from "./notification.config.js";
export type { NotificationService } from "./notification.service.js";
