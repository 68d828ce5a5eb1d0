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
/** The API reference and the router it documents, for the system's docs suites. */
export { Forwarder } from "./forward.js";
export type { UpstreamName } from "./upstreams.js";
export { DOCS_CSP } from "./docs/docs-handler.js";
export { buildOpenApiDocument } from "./docs/openapi.js";
export { OPENAPI_FILE } from "./docs/openapi-file.js";
