/** Starts the ops service alone (connected mode): config → platform → gRPC server. */
import { createPlatform, runMain, startMetricsServer } from "@weelo/runtime";
import { loadOpsConfig } from "./ops.config.js";
import { startOps } from "./ops.module.js";

await runMain(async () => {
  const config = loadOpsConfig();
  const platform = await createPlatform(config, { name: "ops" });
  await startOps(platform, config);
  await platform.listen();
  await startMetricsServer(platform, config.METRICS_PORT, { host: config.METRICS_HOST });
  return platform;
});
