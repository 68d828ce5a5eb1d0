/**
 * The public services the gateway serves, each with the upstream that owns it and the
 * methods callable without an access token. Adding a service is one entry here.
 */
import type { DescService } from "@bufbuild/protobuf";
import { REFLECTION_SERVICES } from "@weelo/grpc";
import { BookingService } from "@weelo/contracts/es/weelo/booking/v1/booking_service_pb";
import { DispatchService } from "@weelo/contracts/es/weelo/dispatch/v1/dispatch_service_pb";
import { DriverService } from "@weelo/contracts/es/weelo/fleet/v1/driver_service_pb";
import { TransporterService } from "@weelo/contracts/es/weelo/fleet/v1/transporter_service_pb";
import { VehicleService } from "@weelo/contracts/es/weelo/fleet/v1/vehicle_service_pb";
import { AuthService } from "@weelo/contracts/es/weelo/identity/v1/auth_service_pb";
import { ProfileService } from "@weelo/contracts/es/weelo/identity/v1/profile_service_pb";
import { TrackingService } from "@weelo/contracts/es/weelo/tracking/v1/tracking_service_pb";
import { NotificationService } from "@weelo/contracts/es/weelo/notification/v1/notification_service_pb";
import { PricingService } from "@weelo/contracts/es/weelo/pricing/v1/pricing_service_pb";
import { OpsService } from "@weelo/contracts/es/weelo/ops/v1/ops_service_pb";

export type UpstreamName =
  | "identity"
  | "fleet"
  | "pricing"
  | "booking"
  | "tracking"
  | "notification"
  | "dispatch"
  | "ops";

export interface PublicService {
  service: DescService;
  upstream: UpstreamName;
  /** Proto method names that need no access token. */
  publicMethods: readonly string[];
  /** Cache-Control of successful answers, by proto method name (reads that many clients share). */
  cacheControl?: Readonly<Record<string, string>>;
}

export const PUBLIC_SERVICES: readonly PublicService[] = [
  { service: AuthService, upstream: "identity", publicMethods: ["SendOtp", "VerifyOtp", "RefreshToken", "Logout"] },
  { service: ProfileService, upstream: "identity", publicMethods: [] },
  { service: VehicleService, upstream: "fleet", publicMethods: [] },
  { service: DriverService, upstream: "fleet", publicMethods: [] },
  { service: TransporterService, upstream: "fleet", publicMethods: [] },
  // FleetDirectoryService is internal (identity's driver-login rule): never served here.
  {
    service: PricingService,
    upstream: "pricing",
    publicMethods: ["ListVehicleTypes"],
    // The catalog changes when operators change fares; pricing itself caches it for 30 s.
    cacheControl: { ListVehicleTypes: "public, max-age=60" },
  },
  // QuoteRedemptionService is internal (booking redeems each order's quote): never served here.
  { service: BookingService, upstream: "booking", publicMethods: [] },
  // BookingDispatchService is internal (dispatch confirms, assigns, reopens): never served here.
  // StreamLocation is bidirectional: the gateway relays it both ways over gRPC and Connect on HTTP/2.
  { service: TrackingService, upstream: "tracking", publicMethods: [] },
  // TrackingInternalService (FindNearbyDrivers for dispatch) is internal: never served here.
  // The caller's in-app inbox. ContactDirectoryService (identity, for notification) is internal: never served here.
  { service: NotificationService, upstream: "notification", publicMethods: [] },
  // Transporters' offers: WatchOffers is a server stream, passed through like WatchBooking.
  { service: DispatchService, upstream: "dispatch", publicMethods: [] },
  // The operations console's API: every method needs a token, and the ops service admits role ops only.
  // BookingOpsService, DispatchOpsService and AccountAdminService (its upstreams) are internal: never served here.
  { service: OpsService, upstream: "ops", publicMethods: [] },
];

const publicMethodNames = new Set(
  PUBLIC_SERVICES.flatMap(({ service, publicMethods }) => publicMethods.map((m) => `${service.typeName}/${m}`)),
);

const cacheControlByMethod = new Map(
  PUBLIC_SERVICES.flatMap(({ service, cacheControl }) =>
    Object.entries(cacheControl ?? {}).map(([method, value]) => [`${service.typeName}/${method}`, value] as const),
  ),
);

/** The Cache-Control header of a method's successful answers, if it has one. */
export function cacheControlOf(serviceTypeName: string, methodName: string): string | undefined {
  return cacheControlByMethod.get(`${serviceTypeName}/${methodName}`);
}

/** Server reflection (grpc.reflection.v1 and v1alpha): answered by the gateway itself, describing the services above only. */
const reflectionServices = new Set<string>(REFLECTION_SERVICES);

/** True when the method may be called without an access token (the token-free methods above, and reflection). */
export function isPublicMethod(serviceTypeName: string, methodName: string): boolean {
  return reflectionServices.has(serviceTypeName) || publicMethodNames.has(`${serviceTypeName}/${methodName}`);
}
