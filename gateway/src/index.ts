export { startSystem, systemConfigSchema, type RunningSystem } from "./system.js";
export { startGateway, type Gateway } from "./gateway.module.js";
export { loadGatewayConfig, gatewayConfigSchema, type GatewayConfig } from "./gateway.config.js";
