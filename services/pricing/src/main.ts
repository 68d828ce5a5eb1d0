/** Starts the pricing service alone (connected mode): config → platform → gRPC server. */
import { createPlatform, runMain, startMetricsServer } from "@weelo/runtime";
import { loadPricingConfig } from "./pricing.config.js";
import { startPricing } from "./pricing.module.js";

await runMain(async () => {
  const config = loadPricingConfig();
  const platform = await createPlatform(config, { name: "pricing" });
  await startPricing(platform, config);
  await platform.listen();
  await startMetricsServer(platform, config.METRICS_PORT, { host: config.METRICS_HOST });
  return platform;
});
