/** Starts the booking service alone (connected mode): config → platform → gRPC server. */
import { createPlatform, runMain, startMetricsServer } from "@weelo/runtime";
import { loadBookingConfig } from "./booking.config.js";
import { startBooking } from "./booking.module.js";

await runMain(async () => {
  const config = loadBookingConfig();
  const platform = await createPlatform(config, { name: "booking" });
  await startBooking(platform, config);
  await platform.listen(config.GRPC_HOST, config.GRPC_PORT);
  await startMetricsServer(platform, config.METRICS_PORT);
  return platform;
});
