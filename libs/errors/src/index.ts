/**
 * The small set of domain errors every service throws, and the one table that maps them to
 * gRPC status codes (equal to Connect codes) and HTTP statuses. Messages are written for a
 * mobile developer; internals (SQL, stacks) never travel in them. Their stable reasons come
 * from one catalog (reasons.ts).
 */

import { GrpcCode } from "./codes.js";
import type { Reason } from "./reasons.js";

export { GrpcCode } from "./codes.js";
export { isReason, REASONS, type Reason, type ReasonEntry } from "./reasons.js";

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
export function codeName(code: number): keyof typeof GrpcCode {
  return (Object.keys(GrpcCode) as (keyof typeof GrpcCode)[]).find((k) => GrpcCode[k] === code) ?? "UNKNOWN";
}

/** The reason of an error that names none: its code's name (every code but OK is catalogued). */
export function defaultReason(code: number): Reason {
  const name = codeName(code);
  return name === "OK" ? "UNKNOWN" : name;
}

/** One wrong request field, as google.rpc.BadRequest.FieldViolation states it. */
export interface FieldViolation {
  /** The field's path in the request, e.g. "pickup.line1" or "points[0].seq". */
  field: string;
  /** What is wrong, for a developer. */
  description: string;
  /** Stable machine-readable reason, e.g. "VEHICLE_COUNT_RANGE" or protovalidate's rule id "int32.gte". */
  reason: string;
}

export interface DomainErrorOptions {
  /** Stable machine-readable reason from the catalog (reasons.ts), e.g. "OTP_INVALID". Defaults to the code's name. */
  reason?: Reason;
  /** The request field at fault. */
  field?: string;
  /** Every wrong field (google.rpc.BadRequest); the first names `field` when that is not given. */
  violations?: readonly FieldViolation[];
  /** Extra facts for ErrorInfo.metadata (short strings a client may branch on). */
  metadata?: Readonly<Record<string, string>>;
  /** Seconds before a retry can succeed (limits and cooldowns). */
  retryAfterSeconds?: number;
  cause?: unknown;
}

/** Base of every error a client may see. Anything else that escapes a handler becomes INTERNAL. */
export class DomainError extends Error {
  readonly reason: Reason;
  readonly field: string | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly violations: readonly FieldViolation[];
  readonly metadata: Readonly<Record<string, string>>;

  constructor(
    readonly code: GrpcCode,
    message: string,
    options: DomainErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.reason = options.reason ?? defaultReason(code);
    this.field = options.field ?? options.violations?.[0]?.field;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.violations = options.violations ?? [];
    this.metadata = options.metadata ?? {};
  }

  get httpStatus(): number {
    return httpStatusOf(this.code);
  }
}

/**
 * The request is malformed: a field is missing, out of range or of the wrong shape. It travels
 * with a google.rpc.BadRequest naming the field (or every field, when `violations` lists them).
 */
export class InvalidArgumentError extends DomainError {
  constructor(field: string, message: string, options: Omit<DomainErrorOptions, "field"> = {}) {
    const reason = options.reason ?? "INVALID_ARGUMENT";
    const violations = options.violations ?? (field ? [{ field, description: message, reason }] : undefined);
    super(GrpcCode.INVALID_ARGUMENT, message, { ...options, reason, field: field || undefined, violations });
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

export {
  decodeStatusDetails,
  domainErrorFromStatus,
  ERROR_DOMAIN,
  encodeStatusDetails,
  errorInfoOf,
  type StatusDetails,
} from "./status-details.js";
