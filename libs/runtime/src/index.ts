export { createPlatform, runChecks, type Platform, type DependencyCheck } from "./platform.js";
export { runMain } from "./process.js";
export { startMetricsServer } from "./metrics-server.js";
