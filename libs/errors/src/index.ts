/**
 * The small set of domain errors every service throws, and the one table that maps them to
 * gRPC status codes (equal to Connect codes) and HTTP statuses. Messages are written for a
 * mobile developer; internals (SQL, stacks) never travel in them.
 */
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { ErrorDetail } from "@weelo/contracts/grpc/weelo/common/v1/error";

/** gRPC status codes (Connect uses the same numbers). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

/** The one mapping: gRPC code → HTTP status (the gateway's REST aliases and Connect agree). */
const HTTP_STATUS_BY_CODE: Record<number, number> = {
  [GrpcCode.OK]: 200,
  [GrpcCode.CANCELLED]: 499,
  [GrpcCode.UNKNOWN]: 500,
  [GrpcCode.INVALID_ARGUMENT]: 400,
  [GrpcCode.DEADLINE_EXCEEDED]: 504,
  [GrpcCode.NOT_FOUND]: 404,
  [GrpcCode.ALREADY_EXISTS]: 409,
  [GrpcCode.PERMISSION_DENIED]: 403,
  [GrpcCode.RESOURCE_EXHAUSTED]: 429,
  // A precondition failure is the client's mistake in the documented REST contract (400), not a conflict.
  [GrpcCode.FAILED_PRECONDITION]: 400,
  [GrpcCode.ABORTED]: 409,
  [GrpcCode.OUT_OF_RANGE]: 400,
  [GrpcCode.UNIMPLEMENTED]: 501,
  [GrpcCode.INTERNAL]: 500,
  [GrpcCode.UNAVAILABLE]: 503,
  [GrpcCode.DATA_LOSS]: 500,
  [GrpcCode.UNAUTHENTICATED]: 401,
};

export function httpStatusOf(code: number): number {
  return HTTP_STATUS_BY_CODE[code] ?? 500;
}

/** Upper-case name of a code, e.g. 3 → "INVALID_ARGUMENT"; used as a default reason. */
export function codeName(code: number): string {
  return (Object.keys(GrpcCode) as (keyof typeof GrpcCode)[]).find((k) => GrpcCode[k] === code) ?? "UNKNOWN";
}

export interface DomainErrorOptions {
  /** Stable machine-readable reason, e.g. "OTP_INVALID". Defaults to the code's name. */
  reason?: string;
  /** The request field at fault. */
  field?: string;
  /** Seconds before a retry can succeed (limits and cooldowns). */
  retryAfterSeconds?: number;
  cause?: unknown;
}

/** Base of every error a client may see. Anything else that escapes a handler becomes INTERNAL. */
export class DomainError extends Error {
  readonly reason: string;
  readonly field: string | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(
    readonly code: GrpcCode,
    message: string,
    options: DomainErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.reason = options.reason ?? codeName(code);
    this.field = options.field;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  get httpStatus(): number {
    return httpStatusOf(this.code);
  }

  get detail(): ErrorDetail {
    return { reason: this.reason, field: this.field ?? "", retryAfterSeconds: this.retryAfterSeconds ?? 0 };
  }
}

/** The request is malformed: a field is missing, out of range or of the wrong shape. */
export class InvalidArgumentError extends DomainError {
  constructor(field: string, message: string, options: Omit<DomainErrorOptions, "field"> = {}) {
    super(GrpcCode.INVALID_ARGUMENT, message, { reason: "INVALID_ARGUMENT", ...options, field });
  }
}

/** No valid credentials came with the request. */
export class UnauthenticatedError extends DomainError {
  constructor(message = "a valid access token is required", options: DomainErrorOptions = {}) {
    super(GrpcCode.UNAUTHENTICATED, message, { reason: "UNAUTHENTICATED", ...options });
  }
}

/** The caller is known but may not do this. */
export class PermissionDeniedError extends DomainError {
  constructor(message: string, options: DomainErrorOptions = {}) {
    super(GrpcCode.PERMISSION_DENIED, message, { reason: "PERMISSION_DENIED", ...options });
  }
}

/** The thing does not exist, or the caller may not know that it exists. */
export class NotFoundError extends DomainError {
  constructor(message: string, options: DomainErrorOptions = {}) {
    super(GrpcCode.NOT_FOUND, message, { reason: "NOT_FOUND", ...options });
  }
}

/** The thing exists already, or was taken by someone else first (HTTP 409). */
export class AlreadyExistsError extends DomainError {
  constructor(message: string, options: DomainErrorOptions = {}) {
    super(GrpcCode.ALREADY_EXISTS, message, { reason: "ALREADY_EXISTS", ...options });
  }
}

/** The request is valid but the current state forbids it (e.g. an illegal status transition). */
export class FailedPreconditionError extends DomainError {
  constructor(message: string, options: DomainErrorOptions = {}) {
    super(GrpcCode.FAILED_PRECONDITION, message, { reason: "FAILED_PRECONDITION", ...options });
  }
}

/** A limit was hit; retry after the given time (HTTP 429 with Retry-After). */
export class ResourceExhaustedError extends DomainError {
  constructor(message: string, options: DomainErrorOptions = {}) {
    super(GrpcCode.RESOURCE_EXHAUSTED, message, { reason: "RESOURCE_EXHAUSTED", ...options });
  }
}

/** A dependency is down or the server is shedding load; the call may be retried (HTTP 503). */
export class UnavailableError extends DomainError {
  constructor(message: string, options: DomainErrorOptions = {}) {
    super(GrpcCode.UNAVAILABLE, message, { reason: "UNAVAILABLE", ...options });
  }
}

/** A failure the client cannot fix; details stay in the server's log. */
export class InternalError extends DomainError {
  constructor(message = "internal error", options: DomainErrorOptions = {}) {
    super(GrpcCode.INTERNAL, message, { reason: "INTERNAL", ...options });
  }
}

/** Turns anything thrown into a DomainError; unknown errors become a generic INTERNAL. */
export function toDomainError(error: unknown): DomainError {
  if (error instanceof DomainError) return error;
  if (isDependencyOutage(error)) {
    return new UnavailableError("a backing service is unavailable; try again shortly", {
      reason: "DEPENDENCY_UNAVAILABLE",
      cause: error,
    });
  }
  return new InternalError("internal error", { cause: error });
}

/** Socket errors and the Postgres SQLSTATEs that mean "the server is not there right now". */
const OUTAGE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "57P01",
  "57P02",
  "57P03",
  "53300",
]);

/** True for errors a retry may cure because a dependency (database, cache, broker) is down or overloaded. */
export function isDependencyOutage(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return false;
  return OUTAGE_CODES.has(code) || code.startsWith("08"); // SQLSTATE class 08: connection exception
}

/** Type url of ErrorDetail inside google.rpc.Status details. */
export const ERROR_DETAIL_TYPE_URL = "type.googleapis.com/weelo.common.v1.ErrorDetail";

/**
 * Encodes google.rpc.Status { code, message, details: [Any(ErrorDetail)] }: the body of the
 * standard `grpc-status-details-bin` trailer that grpc-js and Connect clients understand.
 */
export function encodeStatusDetails(error: DomainError): Uint8Array {
  const detail = ErrorDetail.encode(error.detail).finish();
  const any = new BinaryWriter().uint32(10).string(ERROR_DETAIL_TYPE_URL).uint32(18).bytes(detail).finish();
  return new BinaryWriter().uint32(8).int32(error.code).uint32(18).string(error.message).uint32(26).bytes(any).finish();
}

/** Reads the ErrorDetail back out of a `grpc-status-details-bin` value, if there is one. */
export function decodeStatusDetails(bytes: Uint8Array): ErrorDetail | undefined {
  const status = new BinaryReader(bytes);
  while (status.pos < status.len) {
    const tag = status.uint32();
    if (tag >>> 3 !== 3 || (tag & 7) !== 2) {
      status.skip(tag & 7);
      continue;
    }
    const any = new BinaryReader(status.bytes());
    let typeUrl = "";
    let value: Uint8Array | undefined;
    while (any.pos < any.len) {
      const anyTag = any.uint32();
      if (anyTag === 10) typeUrl = any.string();
      else if (anyTag === 18) value = any.bytes();
      else any.skip(anyTag & 7);
    }
    if (typeUrl === ERROR_DETAIL_TYPE_URL && value) return ErrorDetail.decode(value);
  }
  return undefined;
}

/** Rebuilds a DomainError from a status received from another service, keeping its reason and field. */
export function domainErrorFromStatus(code: number, message: string, detail?: ErrorDetail): DomainError {
  return new DomainError(code as GrpcCode, message, {
    reason: detail?.reason || codeName(code),
    ...(detail?.field ? { field: detail.field } : {}),
    ...(detail?.retryAfterSeconds ? { retryAfterSeconds: detail.retryAfterSeconds } : {}),
  });
}
