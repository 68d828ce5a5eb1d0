/** Starts the gateway alone (connected mode): it forwards to the services named by *_GRPC_URL. */
import { createPlatform, runMain } from "@weelo/runtime";
import { loadGatewayConfig } from "./gateway.config.js";
import { startGateway } from "./gateway.module.js";

await runMain(async () => {
  const config = loadGatewayConfig();
  const platform = await createPlatform(config, { name: "gateway" });
  await startGateway(platform, config);
  return platform;
});
