/** What every use case of the ops service works with: its schema, its upstreams over the mesh, the clock. */
import type { Principal } from "@weelo/auth";
import type { BookingOpsServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_ops_service";
import type { DispatchOpsServiceService } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch_ops_service";
import type { AccountAdminServiceService } from "@weelo/contracts/grpc/weelo/identity/v1/account_admin_service";
import type { TrackingInternalServiceService } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import { PermissionDeniedError, UnauthenticatedError } from "@weelo/errors";
import type { ServiceClient } from "@weelo/grpc";
import type { Logger } from "@weelo/log";
import type { OpsDb } from "./ops.repository.js";
import type { HealthProbe } from "./service-health.js";

export interface OpsUpstreams {
  /** identity's AccountAdminService: accounts, block and unblock. */
  accounts: ServiceClient<typeof AccountAdminServiceService>;
  /** booking's BookingOpsService: every booking, its history, cancel by ops, the booking funnel. */
  bookings: ServiceClient<typeof BookingOpsServiceService>;
  /** dispatch's DispatchOpsService: offers, reopen and reassign by ops, the dispatch funnel. */
  dispatch: ServiceClient<typeof DispatchOpsServiceService>;
  /** tracking's TrackingInternalService: the trip path and the fleet's positions. */
  tracking: ServiceClient<typeof TrackingInternalServiceService>;
}

export interface OpsContext {
  db: OpsDb;
  upstreams: OpsUpstreams;
  /** The health checks of every service GetServiceHealth lists, this one included. */
  health: readonly HealthProbe[];
  logger: Logger;
  now: () => Date;
}

/** The operations user acting, as the audit names them. */
export interface Actor {
  userId: string;
  phone: string;
}

/** The caller of an OpsService method: an access token of role ops, nothing else. */
export function requireOps(principal: Principal | undefined): Principal {
  if (!principal) throw new UnauthenticatedError();
  if (principal.role !== "ops")
    throw new PermissionDeniedError("the operations console is for accounts of role ops only", {
      reason: "OPS_ROLE_REQUIRED",
    });
  return principal;
}
