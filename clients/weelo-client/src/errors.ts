/**
 * Errors as the apps handle them: every failure is a ConnectError with a Connect code, and the
 * server's stable reason ("ALREADY_TAKEN", "OTP_INVALID", …; see libs/errors and each RPC's
 * comment) travels in its details. `reasonOf` reads it from either detail the server may send:
 * google.rpc.ErrorInfo (reason), BadRequest (fields) and RetryInfo, or the older
 * weelo.common.v1.ErrorDetail.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "@weelo/contracts/es/google/rpc/error_details_pb";
import { ErrorDetailSchema } from "@weelo/contracts/es/weelo/common/v1/error_pb";

export { Code, ConnectError };

/** What a refusal says beyond its code: the stable reason, the field at fault, when to retry. */
export interface ErrorFacts {
  /** Stable machine-readable reason; the Connect code's name (e.g. "Unavailable") when the server gave none. */
  reason: string;
  /** The request field that was wrong, when the refusal is about one field. */
  field: string | undefined;
  /** Every wrong field of a refused request (google.rpc.BadRequest), empty when none was named. */
  violations: { field: string; description: string; reason: string }[];
  /** Seconds to wait before retrying, when the refusal is a limit or a cooldown. */
  retryAfterSeconds: number | undefined;
}

/** The facts of a failure; one place that knows both detail formats. */
export function errorFacts(error: unknown): ErrorFacts {
  if (error instanceof SessionEndedError) return errorFacts(error.cause);
  const connectError = ConnectError.from(error);
  const [info] = connectError.findDetails(ErrorInfoSchema);
  const [badRequest] = connectError.findDetails(BadRequestSchema);
  const [retry] = connectError.findDetails(RetryInfoSchema);
  const violations = (badRequest?.fieldViolations ?? []).map((v) => ({
    field: v.field,
    description: v.description,
    reason: v.reason,
  }));
  let reason = info?.reason;
  let field = info?.metadata.field || violations[0]?.field || undefined;
  let retryAfterSeconds = retry?.retryDelay ? Number(retry.retryDelay.seconds) : undefined;
  // Servers before google.rpc details sent one weelo.common.v1.ErrorDetail.
  const [legacy] = connectError.findDetails(ErrorDetailSchema);
  if (legacy) {
    reason ||= legacy.reason;
    field ||= legacy.field || undefined;
    if (legacy.retryAfterSeconds > 0) retryAfterSeconds ??= legacy.retryAfterSeconds;
  }
  return { reason: reason || Code[connectError.code] || "Unknown", field, violations, retryAfterSeconds };
}

/** The stable reason of a refusal ("ALREADY_TAKEN"), or the Connect code's name when the server gave none. */
export function reasonOf(error: unknown): string {
  if (error instanceof ConnectError) return errorFacts(error).reason;
  return error instanceof Error ? error.message : String(error);
}

/** True when the failure carries this reason: `if (hasReason(error, "ALREADY_TAKEN")) …`. */
export function hasReason(error: unknown, reason: string): boolean {
  return error instanceof ConnectError && errorFacts(error).reason === reason;
}

/** The Connect code's name of a failure ("Unavailable"); "Network" for a failure below Connect. */
export function codeOf(error: unknown): string {
  return error instanceof ConnectError ? (Code[error.code] ?? "Unknown") : "Network";
}

/** "Unavailable", or "FailedPrecondition ALREADY_TAKEN" when the reason says more than the code. */
export function describeError(error: unknown): string {
  const code = codeOf(error);
  const reason = reasonOf(error);
  return reason === code ? code : `${code} ${reason}`;
}

const TRANSIENT = new Set([
  Code.Unavailable,
  Code.ResourceExhausted,
  Code.DeadlineExceeded,
  Code.Aborted,
  Code.Unknown,
  Code.Internal,
]);

/** True for a failure worth retrying: the system or the network, not the request. */
export function isTransient(error: unknown): boolean {
  return !(error instanceof ConnectError) || TRANSIENT.has(error.code);
}

/**
 * True when a stream broke in a way worth reconnecting for: a transient failure, or a cancel
 * the app did not ask for (an HTTP/2 stream reset by a proxy or a dropped connection).
 */
export function isStreamBreak(error: unknown, signal: AbortSignal | undefined): boolean {
  if (isTransient(error)) return true;
  return error instanceof ConnectError && error.code === Code.Canceled && !signal?.aborted;
}

/** True when the access token is no longer good (expired or revoked). */
export function isUnauthenticated(error: unknown): boolean {
  return error instanceof ConnectError && error.code === Code.Unauthenticated;
}

/**
 * The session is over (the refresh token was refused: logged out, revoked, reused or expired);
 * the app logs in again. A ConnectError (Unauthenticated) whose reason is the refusal's.
 */
export class SessionEndedError extends ConnectError {
  /** Connect passes a ConnectError through its interceptors unchanged only if it looks like one (its name). */
  readonly sessionEnded = true;

  constructor(cause: unknown) {
    super(`the session ended: ${reasonOf(cause)}; log in again`, Code.Unauthenticated, undefined, undefined, cause);
  }

  // ConnectError answers instanceof by shape (across copies of the library), which a subclass
  // inherits: this class looks for its own mark.
  static override [Symbol.hasInstance](value: unknown): boolean {
    return value instanceof ConnectError && (value as { sessionEnded?: unknown }).sessionEnded === true;
  }
}
