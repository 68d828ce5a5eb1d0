/** The ops service's use cases, composed over one context; each lives in its own file. */
import { createActors } from "./actors.js";
import { createAudited } from "./audited.js";
import { createBookingDetail } from "./booking-detail.js";
import { createFunnel } from "./funnel.js";
import { createInterventions } from "./interventions.js";
import type { OpsContext } from "./ops.context.js";
import { createBookingSearch } from "./search-bookings.js";
import { checkServices } from "./service-health.js";
import { createUsersAndAudit } from "./users-and-audit.js";
import type { FleetWatchDeps } from "./watch-fleet.js";

export function createOpsService(ctx: OpsContext, settings: { healthTimeoutMs: number }) {
  return {
    actorOf: createActors(ctx),
    ...createInterventions(ctx, createAudited(ctx)),
    ...createBookingSearch(ctx),
    ...createUsersAndAudit(ctx),
    getBookingDetail: createBookingDetail(ctx),
    getFunnel: createFunnel(ctx),
    getServiceHealth: () => checkServices(ctx.health, settings.healthTimeoutMs),
    /** What the fleet stream reads, from this service's upstream clients. */
    fleetWatchDeps: {
      watchFleetPositions: (request, signal) => ctx.upstreams.tracking.watchFleetPositions(request, { signal }),
      listOfferedTransporters: async (signal) =>
        (await ctx.upstreams.dispatch.listOfferedTransporters({}, { signal })).transporterIds,
      // A failed refresh of the offered transporters is told here, once until one succeeds.
      logger: ctx.logger,
    } satisfies FleetWatchDeps,
  };
}

export type OpsService = ReturnType<typeof createOpsService>;
