/**
 * Errors leaving the gateway: every failure becomes a ConnectError whose code follows the one
 * table in @weelo/errors; anything unexpected becomes a bare "internal error" (the cause stays
 * in the log). Limits and sheds carry Retry-After.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorDetailSchema } from "@weelo/contracts/es/weelo/common/v1/error_pb";
import { codeName, DomainError, httpStatusOf } from "@weelo/errors";

/** A ConnectError for anything thrown; `internal` tells the caller to log the cause. */
export function toConnectError(error: unknown): { error: ConnectError; internal: boolean } {
  if (error instanceof ConnectError) {
    const retryAfter = retryAfterOf(error);
    if (retryAfter) error.metadata.set("retry-after", String(retryAfter));
    return { error, internal: false };
  }
  if (error instanceof DomainError) {
    // The ErrorDetail rides along, so Connect clients read the same reason as gRPC clients.
    const connectError = new ConnectError(error.message, error.code as number as Code, undefined, [
      { desc: ErrorDetailSchema, value: { ...error.detail } },
    ]);
    if (error.retryAfterSeconds) connectError.metadata.set("retry-after", String(error.retryAfterSeconds));
    return { error: connectError, internal: false };
  }
  return { error: new ConnectError("internal error", Code.Internal), internal: true };
}

/** Reason, field and retry time from the ErrorDetail a service attached, if any. */
export function detailOf(error: ConnectError) {
  return error.findDetails(ErrorDetailSchema)[0];
}

function retryAfterOf(error: ConnectError): number | undefined {
  return detailOf(error)?.retryAfterSeconds || undefined;
}

/** The REST envelope of an error, with its HTTP status. */
export function restError(error: ConnectError): { status: number; body: unknown; retryAfter?: number } {
  const detail = detailOf(error);
  const body = {
    success: false,
    error: {
      code: detail?.reason || codeName(error.code),
      message: error.rawMessage,
      ...(detail?.field ? { field: detail.field } : {}),
      ...(detail?.retryAfterSeconds ? { retryAfterSeconds: detail.retryAfterSeconds } : {}),
    },
  };
  const retryAfter = detail?.retryAfterSeconds || undefined;
  return retryAfter
    ? { status: httpStatusOf(error.code), body, retryAfter }
    : { status: httpStatusOf(error.code), body };
}
