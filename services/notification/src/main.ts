/** Starts the notification service alone (connected mode): config → platform → gRPC server → consumers. */
import { createPlatform, runMain, startMetricsServer } from "@weelo/runtime";
import { loadNotificationConfig } from "./notification.config.js";
import { startNotification } from "./notification.module.js";

await runMain(async () => {
  const config = loadNotificationConfig();
  const platform = await createPlatform(config, { name: "notification" });
  const notification = await startNotification(platform, config);
  await platform.listen();
  await notification.start();
  await startMetricsServer(platform, config.METRICS_PORT, { host: config.METRICS_HOST });
  return platform;
});
