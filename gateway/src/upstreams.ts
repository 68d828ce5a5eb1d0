/**
 * The public services the gateway serves, each with the upstream that owns it and the
 * methods callable without an access token. Adding a service is one entry here.
 */
import type { DescService } from "@bufbuild/protobuf";
import { AuthService } from "@weelo/contracts/es/weelo/identity/v1/auth_service_pb";
import { ProfileService } from "@weelo/contracts/es/weelo/identity/v1/profile_service_pb";

export type UpstreamName = "identity";

export interface PublicService {
  service: DescService;
  upstream: UpstreamName;
  /** Proto method names that need no access token. */
  publicMethods: readonly string[];
}

export const PUBLIC_SERVICES: readonly PublicService[] = [
  { service: AuthService, upstream: "identity", publicMethods: ["SendOtp", "VerifyOtp", "RefreshToken", "Logout"] },
  { service: ProfileService, upstream: "identity", publicMethods: [] },
];

const publicMethodNames = new Set(
  PUBLIC_SERVICES.flatMap(({ service, publicMethods }) => publicMethods.map((m) => `${service.typeName}/${m}`)),
);

/** True when the method may be called without an access token. */
export function isPublicMethod(serviceTypeName: string, methodName: string): boolean {
  return publicMethodNames.has(`${serviceTypeName}/${methodName}`);
}
