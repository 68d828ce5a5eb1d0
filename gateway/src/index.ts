export { startGateway, type Gateway } from "./gateway.module.js";
export {
  loadGatewayConfig,
  gatewayConfigSchema,
  gatewayProductionRules,
  type GatewayConfig,
} from "./gateway.config.js";
/** What the gateway serves, for suites that call all of it (the system's fuzz suite). */
export { PUBLIC_SERVICES } from "./upstreams.js";
export { REST_ALIASES } from "./rest/aliases.js";
/** The close codes of the driver socket, for clients and suites that read them. */
export { CLOSE } from "./socket/protocol.js";
/** The router the API reference documents, for the system's docs suites (the reference itself: `@weelo/gateway/docs`). */
export { Forwarder } from "./forward.js";
export type { UpstreamName } from "./upstreams.js";
