/** Starts the identity service alone (connected mode): config → platform → gRPC server. */
import { FleetDirectoryServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/fleet_directory_service";
import { createPlatform, runMain, startMetricsServer } from "@weelo/runtime";
import { createFleetDriverDirectory } from "./fleet-driver-directory.js";
import { loadIdentityConfig } from "./identity.config.js";
import { startIdentity } from "./identity.module.js";

await runMain(async () => {
  const config = loadIdentityConfig();
  const platform = await createPlatform(config, { name: "identity" });
  const drivers = config.FLEET_GRPC_URL
    ? createFleetDriverDirectory(platform.meshClient(FleetDirectoryServiceService, config.FLEET_GRPC_URL, "identity"))
    : undefined;
  await startIdentity(platform, config, drivers ? { drivers } : {});
  await platform.listen();
  await startMetricsServer(platform, config.METRICS_PORT, { host: config.METRICS_HOST });
  return platform;
});
