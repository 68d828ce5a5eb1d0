import { createContextKey, type Interceptor } from "@connectrpc/connect";
import type { RequestLimitDecision } from "@weelo/resilience";
import { clientIpKey, principalKey } from "../context-keys.js";
import { endpointClassOf, rateLimitHeaders, type Admission } from "../overload/admission.js";
import { toConnectRefusal } from "../overload/connect-refusals.js";

/** The per-IP decision, kept for the RateLimit headers that the per-user check writes. */
const ipDecisionKey = createContextKey<RequestLimitDecision | undefined>(undefined, {
  description: "per-IP rate-limit decision",
});

/**
 * Per-IP budget of the call's endpoint class; placed before authentication, so a flood of
 * bad tokens from one address is refused before it costs a signature check.
 */
export function ipRateLimitInterceptor(admission: Admission): Interceptor {
  return (next) => async (req) => {
    try {
      const decision = await admission.checkLimit(
        endpointClassOf(req.service.typeName),
        "ip",
        req.contextValues.get(clientIpKey),
      );
      req.contextValues.set(ipDecisionKey, decision);
    } catch (thrown) {
      throw toConnectRefusal(thrown);
    }
    return next(req);
  };
}

/** Per-user budget (after authentication), and the RateLimit headers of the tighter budget on the answer. */
export function userRateLimitInterceptor(admission: Admission): Interceptor {
  return (next) => async (req) => {
    const principal = req.contextValues.get(principalKey);
    let userDecision: RequestLimitDecision | undefined;
    try {
      if (principal)
        userDecision = await admission.checkLimit(endpointClassOf(req.service.typeName), "user", principal.userId);
    } catch (thrown) {
      throw toConnectRefusal(thrown);
    }
    const res = await next(req);
    const headers = rateLimitHeaders([req.contextValues.get(ipDecisionKey), userDecision]);
    for (const [name, value] of Object.entries(headers)) res.header.set(name, value);
    return res;
  };
}
