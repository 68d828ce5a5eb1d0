export {
  createPlatform,
  runChecks,
  shutdownBegunPlatforms,
  StoppedDuringStart,
  type Platform,
  type DependencyCheck,
} from "./platform.js";
export { runMain } from "./process.js";
export { startMetricsServer, type AdminServerOptions } from "./metrics-server.js";
export { startPolling, pauseAfter, Wakeable, type Polling, type PollingOptions } from "./polling.js";
