/** Starts the booking service alone (connected mode): config → platform → gRPC server. */
import { TrackingInternalServiceService } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import { createPlatform, runMain, startMetricsServer } from "@weelo/runtime";
import { loadBookingConfig } from "./booking.config.js";
import { startBooking } from "./booking.module.js";
import { trackingArrivals } from "./tracking-arrivals.js";

await runMain(async () => {
  const config = loadBookingConfig();
  const platform = await createPlatform(config, { name: "booking" });
  // AT_PICKUP / AT_DROPOFF are checked against the driver's position by tracking.
  const arrivals = config.TRACKING_GRPC_URL
    ? trackingArrivals(platform.meshClient(TrackingInternalServiceService, config.TRACKING_GRPC_URL, "booking"))
    : undefined;
  if (arrivals) platform.onShutdown("booking tracking client", async () => arrivals.close());
  else
    platform.logger.warn(
      "TRACKING_GRPC_URL is unset: AT_PICKUP and AT_DROPOFF are not checked against the driver's position",
    );
  await startBooking(platform, config, arrivals ? { arrivals } : {});
  await platform.listen();
  await startMetricsServer(platform, config.METRICS_PORT, { host: config.METRICS_HOST });
  return platform;
});
