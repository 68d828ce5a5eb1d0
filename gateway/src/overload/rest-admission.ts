/**
 * Admission of a REST alias call, before it is read and forwarded: the per-IP budget, the
 * per-user budget (the token's user, when it carries a valid one; a bad token is left for the
 * alias to refuse with 401, from the same one verification), then a slot of the class's
 * queue, held until the answer is sent.
 * Refusals use the REST envelope: 429 with RateLimit headers and Retry-After for a limit, 503
 * with Retry-After when the queue is full or the wait too long.
 */
import type { ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import type { RequestLimitDecision } from "@weelo/resilience";
import type { RequestCredentials } from "../authenticate.js";
import { send } from "../rest/rest-handler.js";
import { endpointClassOf, RateLimitedError, rateLimitHeaders, ShedError, type Admission } from "./admission.js";

type Response = ServerResponse | Http2ServerResponse;

/** True when the call may go on (and its slot is released when the answer is done); false when a refusal was sent. */
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

  const gone = new AbortController();
  const onClose = () => gone.abort();
  res.once("close", onClose);
  try {
    const release = await admission.enterUnary(name, gone.signal);
    res.once("close", release);
    res.off("close", onClose);
    return true;
  } catch (thrown) {
    res.off("close", onClose);
    if (!(thrown instanceof ShedError)) throw thrown;
    if (thrown.reason !== "cancelled")
      send(
        res,
        503,
        { success: false, error: { code: "OVERLOADED", message: thrown.message, retryAfterSeconds: 1 } },
        { "retry-after": "1" },
      );
    return false;
  }
}
