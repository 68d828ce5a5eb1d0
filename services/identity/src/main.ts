/** Starts the identity service alone (connected mode): config → platform → gRPC server. */
import { createPlatform, runMain, startMetricsServer } from "@weelo/runtime";
import { loadIdentityConfig } from "./identity.config.js";
import { startIdentity } from "./identity.module.js";

await runMain(async () => {
  const config = loadIdentityConfig();
  const platform = await createPlatform(config, { name: "identity" });
  await startIdentity(platform, config);
  await platform.listen(config.GRPC_HOST, config.GRPC_PORT);
  await startMetricsServer(platform, config.METRICS_PORT);
  return platform;
});
