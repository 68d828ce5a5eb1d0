/**
 * The rate limits of a REST alias call, before it is read and forwarded (its concurrency
 * permit was taken at the port, by HttpAdmission): the per-IP budget, then the per-user
 * budget (the token's user, when it carries a valid one; a bad token is left for the alias to
 * refuse with 401, from the same one verification).
 * A refusal uses the REST envelope: 429 with RateLimit headers and Retry-After.
 */
import type { ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import type { RequestLimitDecision } from "@weelo/resilience";
import type { RequestCredentials } from "../authenticate.js";
import { send } from "../rest/rest-handler.js";
import { endpointClassOf, RateLimitedError, rateLimitHeaders, type Admission } from "./admission.js";

type Response = ServerResponse | Http2ServerResponse;

/** True when the call may go on; false when a refusal was sent. */
export async function admitRestCall(
  admission: Admission,
  credentials: RequestCredentials,
  res: Response,
  serviceTypeName: string,
  clientIp: string,
): Promise<boolean> {
  const name = endpointClassOf(serviceTypeName);
  const decisions: (RequestLimitDecision | undefined)[] = [];
  try {
    decisions.push(await admission.checkLimit(name, "ip", clientIp));
    // Anonymous calls (and bad tokens) count against the address only.
    const userId = admission.hasLimit(name, "user") ? await credentials.userIdIfValid() : undefined;
    if (userId) decisions.push(await admission.checkLimit(name, "user", userId));
  } catch (thrown) {
    if (!(thrown instanceof RateLimitedError)) throw thrown;
    send(
      res,
      429,
      {
        success: false,
        error: { code: "RATE_LIMITED", message: thrown.message, retryAfterSeconds: thrown.decision.resetSeconds },
      },
      rateLimitHeaders([thrown.decision]),
    );
    return false;
  }
  for (const [header, value] of Object.entries(rateLimitHeaders(decisions))) res.setHeader(header, value);
  return true;
}
