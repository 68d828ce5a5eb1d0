/** Starts the fleet service alone (connected mode): config → platform → gRPC server. */
import { createPlatform, runMain, startMetricsServer } from "@weelo/runtime";
import { loadFleetConfig } from "./fleet.config.js";
import { startFleet } from "./fleet.module.js";

await runMain(async () => {
  const config = loadFleetConfig();
  const platform = await createPlatform(config, { name: "fleet" });
  await startFleet(platform, config);
  await platform.listen();
  await startMetricsServer(platform, config.METRICS_PORT, { host: config.METRICS_HOST });
  return platform;
});
