/** Starts the tracking service alone (connected mode): config → platform → gRPC server. */
import { createPlatform, runMain, startMetricsServer } from "@weelo/runtime";
import { loadTrackingConfig } from "./tracking.config.js";
import { startTracking } from "./tracking.module.js";

await runMain(async () => {
  const config = loadTrackingConfig();
  const platform = await createPlatform(config, { name: "tracking" });
  await startTracking(platform, config);
  await platform.listen();
  await startMetricsServer(platform, config.METRICS_PORT, { host: config.METRICS_HOST });
  return platform;
});
