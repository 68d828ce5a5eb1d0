/**
 * Errors leaving the gateway: every failure becomes a ConnectError whose code follows the one
 * table in @weelo/errors; anything unexpected becomes a bare "internal error" (the cause stays
 * in the log). Details are the standard google.rpc ones (ErrorInfo, BadRequest, RetryInfo), the
 * same a service puts in grpc-status-details-bin, so Connect, gRPC and gRPC-Web clients decode
 * them with stock types. Limits and sheds carry Retry-After.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "@weelo/contracts/es/google/rpc/error_details_pb";
import { codeName, DomainError, errorInfoOf, httpStatusOf } from "@weelo/errors";

/** A ConnectError for anything thrown; `internal` tells the caller to log the cause. */
export function toConnectError(error: unknown): { error: ConnectError; internal: boolean } {
  if (error instanceof ConnectError) {
    const retryAfter = retryAfterOf(error);
    if (retryAfter) error.metadata.set("retry-after", String(retryAfter));
    return { error, internal: false };
  }
  if (error instanceof DomainError) {
    const details: NonNullable<ConstructorParameters<typeof ConnectError>[3]> = [
      { desc: ErrorInfoSchema, value: { ...errorInfoOf(error) } },
    ];
    if (error.violations.length > 0) {
      details.push({ desc: BadRequestSchema, value: { fieldViolations: [...error.violations] } });
    }
    if (error.retryAfterSeconds) details.push(retryInfo(error.retryAfterSeconds));
    const connectError = new ConnectError(error.message, error.code as number as Code, undefined, details);
    if (error.retryAfterSeconds) connectError.metadata.set("retry-after", String(Math.ceil(error.retryAfterSeconds)));
    return { error: connectError, internal: false };
  }
  return { error: new ConnectError("internal error", Code.Internal), internal: true };
}

/** The RetryInfo detail for a wait in seconds. */
export function retryInfo(seconds: number) {
  return { desc: RetryInfoSchema, value: { retryDelay: { seconds: BigInt(Math.ceil(seconds)), nanos: 0 } } };
}

/** The stable reason a service or the gateway attached (ErrorInfo.reason), if any. */
export function reasonOf(error: ConnectError): string | undefined {
  return error.findDetails(ErrorInfoSchema)[0]?.reason || undefined;
}

function retryAfterOf(error: ConnectError): number | undefined {
  const delay = error.findDetails(RetryInfoSchema)[0]?.retryDelay;
  return delay ? Number(delay.seconds) || undefined : undefined;
}

/**
 * The REST envelope of an error, with its HTTP status. `code` is the stable reason and `field`
 * the (first) wrong field, as REST clients have always read them; `violations` lists every
 * wrong field of a google.rpc.BadRequest.
 */
export function restError(error: ConnectError): { status: number; body: unknown; retryAfter?: number } {
  const info = error.findDetails(ErrorInfoSchema)[0];
  const violations = error.findDetails(BadRequestSchema)[0]?.fieldViolations ?? [];
  const field = violations[0]?.field || info?.metadata.field;
  const retryAfter = retryAfterOf(error);
  const body = {
    success: false,
    error: {
      code: info?.reason || codeName(error.code),
      message: error.rawMessage,
      ...(field ? { field } : {}),
      ...(violations.length > 0
        ? { violations: violations.map((v) => ({ field: v.field, description: v.description, reason: v.reason })) }
        : {}),
      ...(retryAfter ? { retryAfterSeconds: retryAfter } : {}),
    },
  };
  return retryAfter
    ? { status: httpStatusOf(error.code), body, retryAfter }
    : { status: httpStatusOf(error.code), body };
}
