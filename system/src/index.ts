export { startSystem, systemConfigSchema, type RunningSystem } from "./system.js";
