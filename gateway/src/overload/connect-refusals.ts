/**
 * Admission refusals as ConnectErrors, so Connect, gRPC and gRPC-Web clients each get them in
 * their protocol's form: RESOURCE_EXHAUSTED with Retry-After (and the RateLimit headers for a
 * limit), DEADLINE_EXCEEDED when the call's own deadline passed while it waited, and the
 * ErrorInfo reason and RetryInfo every Weelo refusal carries.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "@weelo/contracts/es/google/rpc/error_details_pb";
import { ERROR_DOMAIN } from "@weelo/errors";
import { retryInfo } from "../errors.js";
import { RateLimitedError, rateLimitHeaders, ShedError, StreamsFullError } from "./admission.js";

/** The ConnectError for an admission refusal, or the thrown value unchanged. */
export function toConnectRefusal(thrown: unknown): unknown {
  if (thrown instanceof RateLimitedError) {
    return refusal(
      thrown.message,
      Code.ResourceExhausted,
      "RATE_LIMITED",
      thrown.decision.resetSeconds,
      rateLimitHeaders([thrown.decision]),
    );
  }
  if (thrown instanceof StreamsFullError) return refusal(thrown.message, Code.ResourceExhausted, "TOO_MANY_STREAMS", 1);
  if (thrown instanceof ShedError) {
    if (thrown.reason === "deadline") return new ConnectError(thrown.message, Code.DeadlineExceeded);
    if (thrown.reason === "cancelled") return new ConnectError(thrown.message, Code.Canceled);
    return refusal(thrown.message, Code.ResourceExhausted, "OVERLOADED", 1);
  }
  return thrown;
}

/** True for the abort reason Connect gives a call whose deadline passed. */
export function isDeadlineReason(reason: unknown): boolean {
  return reason instanceof ConnectError && reason.code === Code.DeadlineExceeded;
}

function refusal(
  message: string,
  code: Code,
  reason: string,
  retryAfterSeconds: number,
  headers: Record<string, string> = {},
): ConnectError {
  const metadata = new Headers({ ...headers, "retry-after": String(retryAfterSeconds) });
  return new ConnectError(message, code, metadata, [
    { desc: ErrorInfoSchema, value: { reason, domain: ERROR_DOMAIN } },
    retryInfo(retryAfterSeconds),
  ]);
}
