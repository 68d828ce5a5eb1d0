export { createPlatform, runChecks, type Platform, type DependencyCheck } from "./platform.js";
export { runMain } from "./process.js";
export { startMetricsServer, type AdminServerOptions } from "./metrics-server.js";
