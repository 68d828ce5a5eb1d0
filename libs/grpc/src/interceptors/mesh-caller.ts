import { PermissionDeniedError, UnauthenticatedError } from "@weelo/errors";
import type { Logger } from "@weelo/log";
import type { Metrics } from "@weelo/metrics";
import type { ServiceAccess } from "../mesh/access.js";
import type { ServerInterceptor } from "./types.js";

/**
 * The declared-callers check of the mesh listener. The TLS handshake already refused clients
 * without a certificate from the mesh CA; here the certificate's SPIFFE ID must name a service
 * (else UNAUTHENTICATED) that the contract lists for the method (else PERMISSION_DENIED). Public
 * services take any mesh peer: the user's access token authorizes those calls. Every refusal is
 * logged and counted.
 */
export function meshCallerInterceptor(access: ServiceAccess, metrics: Metrics, logger: Logger): ServerInterceptor {
  return (ctx, next) => {
    const caller = ctx.caller;
    const allowed = access.callersOf(ctx.method);
    if (caller === undefined || (allowed !== undefined && !allowed.includes(caller))) {
      const reason = caller === undefined ? "unauthenticated" : "permission_denied";
      metrics.meshRefusals.inc({ service: ctx.service, method: ctx.method, reason });
      logger.warn(
        { rpc: `${ctx.service}/${ctx.method}`, caller: caller ?? null, allowed, peer: ctx.peer },
        "mesh call refused",
      );
      if (caller === undefined) {
        throw new UnauthenticatedError("this internal method needs a mesh certificate naming the calling service", {
          reason: "MESH_IDENTITY_MISSING",
        });
      }
      throw new PermissionDeniedError(`${caller} may not call ${ctx.method}`, { reason: "CALLER_NOT_ALLOWED" });
    }
    return next();
  };
}
