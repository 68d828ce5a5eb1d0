/**
 * Admission of a REST alias call, before it is read and forwarded: the per-IP budget, the
 * per-user budget (the token's user, when it carries a valid one; a bad token is left for the
 * alias to refuse with 401), then a slot of the class's queue, held until the answer is sent.
 * Refusals use the REST envelope: 429 with RateLimit headers and Retry-After for a limit, 503
 * with Retry-After when the queue is full or the wait too long.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { bearerToken, type TokenVerifier } from "@weelo/auth";
import type { RequestLimitDecision } from "@weelo/resilience";
import { send } from "../rest/rest-handler.js";
import { endpointClassOf, RateLimitedError, rateLimitHeaders, ShedError, type Admission } from "./admission.js";

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

/** True when the call may go on (and its slot is released when the answer is done); false when a refusal was sent. */
export async function admitRestCall(
  admission: Admission,
  verifier: TokenVerifier,
  req: Request,
  res: Response,
  serviceTypeName: string,
  clientIp: string,
): Promise<boolean> {
  const name = endpointClassOf(serviceTypeName);
  const decisions: (RequestLimitDecision | undefined)[] = [];
  try {
    decisions.push(await admission.checkLimit(name, "ip", clientIp));
    const userId = await userOf(verifier, req.headers.authorization);
    if (userId) decisions.push(await admission.checkLimit(name, "user", userId));
  } catch (thrown) {
    if (!(thrown instanceof RateLimitedError)) throw thrown;
    send(res, 429, { success: false, error: { code: "RATE_LIMITED", message: thrown.message, retryAfterSeconds: thrown.decision.resetSeconds } }, rateLimitHeaders([thrown.decision]));
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
    if (thrown.reason !== "cancelled") send(res, 503, { success: false, error: { code: "OVERLOADED", message: thrown.message, retryAfterSeconds: 1 } }, { "retry-after": "1" });
    return false;
  }
}

async function userOf(verifier: TokenVerifier, authorization: string | string[] | undefined): Promise<string | undefined> {
  const token = bearerToken(typeof authorization === "string" ? authorization : undefined);
  if (!token) return undefined;
  try {
    return (await verifier.verifyAccessToken(token, { checkRevocation: false })).userId;
  } catch {
    return undefined;
  }
}
