export { GrpcServer, PROTO_ROOT, type GrpcServerOptions, type AddServiceOptions } from "./server.js";
export { bindService, splitPath, type ServiceDefinition, type ServiceHandlers, type Handler, type MethodDefinition } from "./service.js";
export { requirePrincipal, remainingMs, type CallContext } from "./context.js";
export { createClient, outgoingMetadata, deadlineFor, CHANNEL_OPTIONS, type ServiceClient, type CallOptions, type ClientOptions } from "./client.js";
export { toStatusObject, fromServiceError } from "./status.js";
export { compose, type ServerInterceptor, type Next } from "./interceptors/types.js";
export { revocationInterceptor, type SessionWatcher } from "./interceptors/revocation.js";
export { roleFromProto, roleToProto, languageFromProto, languageToProto, type LanguageCode } from "./enums.js";
