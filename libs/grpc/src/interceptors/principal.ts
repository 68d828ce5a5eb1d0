import { bearerToken, type TokenVerifier } from "@weelo/auth";
import { UnauthenticatedError } from "@weelo/errors";
import type { ServerInterceptor } from "./types.js";

/**
 * Verifies the bearer token in the call's metadata and sets ctx.principal. Methods not
 * listed as public are refused without one: authorization is checked in the owning service,
 * not only at the gateway.
 */
export function principalInterceptor(
  verifier: TokenVerifier,
  isPublic: (method: string) => boolean,
): ServerInterceptor {
  return async (ctx, next) => {
    const header = ctx.metadata.get("authorization")[0];
    const token = bearerToken(typeof header === "string" ? header : undefined);
    const open = isPublic(ctx.method);
    if (token) {
      try {
        ctx.principal = await verifier.verifyAccessToken(token);
      } catch (error) {
        // A stale token must not stop a public call such as RefreshToken; it just carries no identity.
        if (!open) throw error;
      }
    } else if (header !== undefined && !open) {
      throw new UnauthenticatedError('the authorization header must be "Bearer <access token>"', {
        reason: "TOKEN_INVALID",
      });
    }
    if (!ctx.principal && !open) throw new UnauthenticatedError();
    return next();
  };
}
