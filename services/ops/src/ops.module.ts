/**
 * Wires the ops service into a process: its schema (the audit trail), its clients of identity,
 * booking, dispatch and tracking over the mesh (calling as "ops"), the health probes of every
 * service, and OpsService on the shared gRPC server. Used by this service's own main and by the
 * all-in-one process alike.
 */
import { BookingOpsServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_ops_service";
import { DispatchOpsServiceService } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch_ops_service";
import { AccountAdminServiceService } from "@weelo/contracts/grpc/weelo/identity/v1/account_admin_service";
import { OpsServiceService } from "@weelo/contracts/grpc/weelo/ops/v1/ops_service";
import { TrackingInternalServiceService } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import { runChecks, type Platform } from "@weelo/runtime";
import { opsMigrations } from "./migrations/index.js";
import { OPS_UPSTREAM_SETTINGS, type OpsConfig, type OpsUpstream } from "./ops.config.js";
import type { OpsContext } from "./ops.context.js";
import { opsHandlers } from "./ops.handlers.js";
import { createOpsService, type OpsService } from "./ops.service.js";
import type { OpsDatabase } from "./ops.table.js";
import { meshHealthProbe, ownHealthProbe } from "./service-health.js";

export interface OpsModuleOptions {
  /** This process's mesh address, for the upstreams whose *_GRPC_URL is unset (the all-in-one, known once it listens). */
  ownAddress?: () => string;
  /** The clock (tests move it). */
  now?: () => Date;
}

/** The service whose health stands for each upstream (a process may host several). */
const HEALTH_SERVICE: Record<OpsUpstream, string> = {
  identity: "weelo.identity.v1.AuthService",
  fleet: "weelo.fleet.v1.VehicleService",
  pricing: "weelo.pricing.v1.PricingService",
  booking: "weelo.booking.v1.BookingService",
  dispatch: "weelo.dispatch.v1.DispatchService",
  tracking: "weelo.tracking.v1.TrackingService",
  notification: "weelo.notification.v1.NotificationService",
};

/** The order GetServiceHealth lists them in: the gateway's upstreams, then this service. */
const LISTED: readonly OpsUpstream[] = [
  "identity",
  "fleet",
  "pricing",
  "booking",
  "dispatch",
  "tracking",
  "notification",
];

export async function startOps(
  platform: Platform,
  config: OpsConfig,
  options: OpsModuleOptions = {},
): Promise<OpsService> {
  const logger = platform.logger.child({ component: "ops" });
  const database = await platform.database<OpsDatabase>("ops", opsMigrations);
  const own = options.ownAddress ?? (() => `127.0.0.1:${config.MESH_PORT}`);
  const addressOf = (upstream: OpsUpstream) => () => config[OPS_UPSTREAM_SETTINGS[upstream]] ?? own();

  const ctx: OpsContext = {
    db: database.db,
    upstreams: {
      accounts: platform.lazyMeshClient(AccountAdminServiceService, addressOf("identity"), "ops"),
      bookings: platform.lazyMeshClient(BookingOpsServiceService, addressOf("booking"), "ops"),
      dispatch: platform.lazyMeshClient(DispatchOpsServiceService, addressOf("dispatch"), "ops"),
      tracking: platform.lazyMeshClient(TrackingInternalServiceService, addressOf("tracking"), "ops"),
    },
    health: [
      ...LISTED.map((upstream) =>
        meshHealthProbe(upstream, addressOf(upstream), HEALTH_SERVICE[upstream], () =>
          platform.mesh.channelCredentials("ops", upstream),
        ),
      ),
      ownHealthProbe("ops", (timeoutMs) => runChecks(platform.checks, timeoutMs)),
    ],
    logger,
    now: options.now ?? (() => new Date()),
  };
  platform.onShutdown("ops health probes", async () => {
    for (const probe of ctx.health) probe.close();
  });

  const ops = createOpsService(ctx, { healthTimeoutMs: config.OPS_HEALTH_TIMEOUT_MS });
  // Public (behind the gateway): every method needs an access token, and the handlers admit role ops only.
  platform.grpc.addService(OpsServiceService, opsHandlers(ops));
  return ops;
}
