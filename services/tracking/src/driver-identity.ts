/**
 * Drivers are known by their fleet driver id (what fleet's availability events, dispatch and
 * booking use); a driver's token carries the identity user id. With FLEET_GRPC_URL set, the
 * fleet id is asked from fleet (GetAvailability with the driver's own token) once per user
 * and remembered; without it (embedded development, tests) the user id stands for the driver id.
 */
import type { DriverServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/driver_service";
import { FailedPreconditionError } from "@weelo/errors";
import { requirePrincipal, type CallContext, type ServiceClient } from "@weelo/grpc";
import type { DriverResolver } from "./tracking.handlers.js";

const REMEMBERED = 100_000;

export function userIdResolver(): DriverResolver {
  return async (ctx) => requirePrincipal(ctx, "driver").userId;
}

export function fleetDriverResolver(drivers: ServiceClient<typeof DriverServiceService>): {
  resolve: DriverResolver;
  close(): void;
} {
  const known = new Map<string, string>();
  return {
    async resolve(ctx: CallContext) {
      const principal = requirePrincipal(ctx, "driver");
      const cached = known.get(principal.userId);
      if (cached) return cached;
      const authorization = ctx.metadata.get("authorization")[0];
      const answer = await drivers.getAvailability({}, { metadata: { authorization: String(authorization ?? "") } });
      const driverId = answer.driver?.id;
      if (!driverId)
        throw new FailedPreconditionError("this account is not a registered driver", { reason: "NOT_A_DRIVER" });
      if (known.size >= REMEMBERED) known.clear();
      known.set(principal.userId, driverId);
      return driverId;
    },
    close: () => drivers.close(),
  };
}
