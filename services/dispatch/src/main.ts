/** Starts the dispatch service alone (connected mode): config → platform → gRPC server. */
import { createPlatform, runMain, startMetricsServer } from "@weelo/runtime";
import { loadDispatchConfig } from "./dispatch.config.js";
import { startDispatch } from "./dispatch.module.js";

await runMain(async () => {
  const config = loadDispatchConfig();
  const platform = await createPlatform(config, { name: "dispatch" });
  await startDispatch(platform, config);
  await platform.listen();
  await startMetricsServer(platform, config.METRICS_PORT, { host: config.METRICS_HOST });
  return platform;
});
