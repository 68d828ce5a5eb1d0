import type { Interceptor } from "@connectrpc/connect";
import type { TokenVerifier } from "@weelo/auth";
import { authenticate, RequestCredentials } from "../authenticate.js";
import { principalKey } from "../context-keys.js";
import { isPublicMethod } from "../upstreams.js";

/** Verifies the bearer token of non-public methods and records the principal for the handler. */
export function authInterceptor(verifier: TokenVerifier): Interceptor {
  return (next) => async (req) => {
    const principal = await authenticate(
      new RequestCredentials(verifier, req.header.get("authorization")),
      isPublicMethod(req.service.typeName, req.method.name),
    );
    req.contextValues.set(principalKey, principal);
    return next(req);
  };
}
