/**
 * The REST routes of the original API document, each an alias of one RPC. Path parameters and
 * the JSON body become the request message; the response is the documented envelope.
 * Later services add their routes here.
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { BookingService } from "@weelo/contracts/es/weelo/booking/v1/booking_service_pb";
import { VehicleService } from "@weelo/contracts/es/weelo/fleet/v1/vehicle_service_pb";
import { AuthService } from "@weelo/contracts/es/weelo/identity/v1/auth_service_pb";
import { PricingService } from "@weelo/contracts/es/weelo/pricing/v1/pricing_service_pb";
import { TrackingService } from "@weelo/contracts/es/weelo/tracking/v1/tracking_service_pb";

export interface RestAlias {
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** Path with :params, e.g. "/api/v1/bookings/:id". */
  path: string;
  service: DescService;
  rpc: DescMethod;
  /** HTTP status of a success (201 for creations). */
  successStatus?: number;
  /** Renames path params to request fields (JSON names), e.g. { id: "bookingId" }. GET query parameters become fields by their JSON names. */
  params?: Record<string, string>;
}

const rpc = (service: DescService, name: string): DescMethod => {
  const method = service.methods.find((m) => m.name === name);
  if (!method) throw new Error(`${service.typeName} has no method ${name}`);
  return method;
};

export const REST_ALIASES: readonly RestAlias[] = [
  { method: "POST", path: "/api/v1/auth/send-otp", service: AuthService, rpc: rpc(AuthService, "SendOtp") },
  { method: "POST", path: "/api/v1/auth/verify-otp", service: AuthService, rpc: rpc(AuthService, "VerifyOtp") },
  { method: "POST", path: "/api/v1/auth/refresh", service: AuthService, rpc: rpc(AuthService, "RefreshToken") },
  { method: "POST", path: "/api/v1/auth/logout", service: AuthService, rpc: rpc(AuthService, "Logout") },
  { method: "GET", path: "/api/v1/vehicles", service: VehicleService, rpc: rpc(VehicleService, "ListVehicles") },
  {
    method: "POST",
    path: "/api/v1/vehicles",
    service: VehicleService,
    rpc: rpc(VehicleService, "AddVehicle"),
    successStatus: 201,
  },
  {
    method: "GET",
    path: "/api/v1/vehicles/:id",
    service: VehicleService,
    rpc: rpc(VehicleService, "GetVehicle"),
    params: { id: "vehicleId" },
  },
  {
    method: "PUT",
    path: "/api/v1/vehicles/:id",
    service: VehicleService,
    rpc: rpc(VehicleService, "UpdateVehicle"),
    params: { id: "vehicleId" },
  },
  {
    method: "DELETE",
    path: "/api/v1/vehicles/:id",
    service: VehicleService,
    rpc: rpc(VehicleService, "DeleteVehicle"),
    params: { id: "vehicleId" },
  },
  {
    method: "GET",
    path: "/api/v1/vehicle-types",
    service: PricingService,
    rpc: rpc(PricingService, "ListVehicleTypes"),
  },
  {
    method: "POST",
    path: "/api/v1/quotes",
    service: PricingService,
    rpc: rpc(PricingService, "GetQuote"),
    successStatus: 201,
  },
  {
    method: "GET",
    path: "/api/v1/quotes/:id",
    service: PricingService,
    rpc: rpc(PricingService, "GetQuoteById"),
    params: { id: "quoteId" },
  },
  {
    method: "POST",
    path: "/api/v1/bookings",
    service: BookingService,
    rpc: rpc(BookingService, "CreateBooking"),
    successStatus: 201,
  },
  { method: "GET", path: "/api/v1/bookings", service: BookingService, rpc: rpc(BookingService, "ListBookings") },
  {
    method: "GET",
    path: "/api/v1/bookings/:id",
    service: BookingService,
    rpc: rpc(BookingService, "GetBooking"),
    params: { id: "bookingId" },
  },
  {
    method: "PUT",
    path: "/api/v1/bookings/:id/cancel",
    service: BookingService,
    rpc: rpc(BookingService, "CancelBooking"),
    params: { id: "bookingId" },
  },
  {
    // The driver's status changes; the body's status in plain words ("AT_PICKUP", "in_transit").
    method: "PUT",
    path: "/api/v1/bookings/:id/status",
    service: BookingService,
    rpc: rpc(BookingService, "UpdateBookingStatus"),
    params: { id: "bookingId" },
  },
  {
    method: "POST",
    path: "/api/v1/tracking/location",
    service: TrackingService,
    rpc: rpc(TrackingService, "UpdateLocation"),
  },
  {
    method: "GET",
    path: "/api/v1/tracking/:bookingId",
    service: TrackingService,
    rpc: rpc(TrackingService, "GetLocation"),
  },
];
