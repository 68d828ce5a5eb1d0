export {
  GrpcServer,
  EPHEMERAL_LOOPBACK,
  type GrpcServerOptions,
  type AddServiceOptions,
  type ListenAddresses,
  type BoundPorts,
} from "./server.js";
export { Mesh, type MeshSettings, type MeshSource } from "./mesh/mesh.js";
export { declaredAccess, contractRegistry, type ServiceAccess } from "./mesh/access.js";
export {
  createMeshCa,
  issueServiceCertificate,
  spiffeId,
  uriSans,
  type KeyPairPem,
  type MeshCa,
} from "./mesh/certificates.js";
export {
  bindService,
  splitPath,
  type ServiceDefinition,
  type ServiceHandlers,
  type Handler,
  type MethodDefinition,
  type PushedResponses,
  type RequestFlow,
  type RequestListener,
  type RequestStream,
  type ResponseSink,
} from "./service.js";
export { requirePrincipal, remainingMs, type CallContext } from "./context.js";
export {
  createClient,
  createMeshClient,
  identityOf,
  outgoingMetadata,
  deadlineFor,
  CHANNEL_OPTIONS,
  type ServiceClient,
  type CallOptions,
  type ClientOptions,
} from "./client.js";
export { toStatusObject, fromServiceError } from "./status.js";
export { compose, type ServerInterceptor, type Next } from "./interceptors/types.js";
export { requestBytesCheck, RefusedRequest, type BytesCheck } from "./interceptors/validation.js";
export { revocationInterceptor, type SessionWatcher } from "./interceptors/revocation.js";
export { roleFromProto, roleToProto, languageFromProto, languageToProto, type LanguageCode } from "./enums.js";
export {
  addReflection,
  reflectionRoutes,
  reflectionServiceDescs,
  ReflectionAnswerer,
  REFLECTION_SERVICES,
  HEALTH_SERVICE,
} from "./reflection.js";
export { checkHealth, HEALTH_SERVING } from "./health-check.js";
