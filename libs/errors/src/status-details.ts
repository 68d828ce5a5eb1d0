/**
 * DomainError ⇄ the standard google.rpc.Status carried in `grpc-status-details-bin`, with the
 * stock details every gRPC library decodes: ErrorInfo (the stable reason, the domain and
 * metadata), BadRequest (the wrong fields) and RetryInfo (when a retry can succeed). Encoded
 * with the code generated from googleapis' protos, so clients in any language read them too.
 */
import {
  BadRequest,
  ErrorInfo,
  type BadRequest_FieldViolation,
  RetryInfo,
} from "@weelo/contracts/grpc/google/rpc/error_details";
import { Status } from "@weelo/contracts/grpc/google/rpc/status";
import type { Any } from "@weelo/contracts/grpc/google/protobuf/any";
import { DomainError, defaultReason, type FieldViolation, type GrpcCode } from "./index.js";
import type { Reason } from "./reasons.js";

/** ErrorInfo.domain of every Weelo error: reasons are unique across Weelo, not per service. */
export const ERROR_DOMAIN = "weelo.app";

const TYPE_PREFIX = "type.googleapis.com/";
const ERROR_INFO_URL = `${TYPE_PREFIX}google.rpc.ErrorInfo`;
const BAD_REQUEST_URL = `${TYPE_PREFIX}google.rpc.BadRequest`;
const RETRY_INFO_URL = `${TYPE_PREFIX}google.rpc.RetryInfo`;

/** The details of a status, decoded. */
export interface StatusDetails {
  errorInfo?: ErrorInfo;
  badRequest?: BadRequest;
  retryInfo?: RetryInfo;
}

/**
 * ErrorInfo of an error: its reason, the Weelo domain, and metadata. A field named without a
 * BadRequest (e.g. NOT_FOUND for `vehicle_id`) rides in metadata as "field".
 */
export function errorInfoOf(error: DomainError): ErrorInfo {
  const metadata: Record<string, string> = { ...error.metadata };
  if (error.field && error.violations.length === 0) metadata.field = error.field;
  return { reason: error.reason, domain: ERROR_DOMAIN, metadata };
}

/** google.rpc.Status { code, message, details: [ErrorInfo, BadRequest?, RetryInfo?] } as bytes. */
export function encodeStatusDetails(error: DomainError): Uint8Array {
  const details: Any[] = [
    { typeUrl: ERROR_INFO_URL, value: Buffer.from(ErrorInfo.encode(errorInfoOf(error)).finish()) },
  ];
  if (error.violations.length > 0) {
    const fieldViolations = error.violations.map(
      (v): BadRequest_FieldViolation => ({ ...v, localizedMessage: undefined }),
    );
    details.push({ typeUrl: BAD_REQUEST_URL, value: Buffer.from(BadRequest.encode({ fieldViolations }).finish()) });
  }
  if (error.retryAfterSeconds) {
    const retryDelay = { seconds: Math.ceil(error.retryAfterSeconds), nanos: 0 };
    details.push({ typeUrl: RETRY_INFO_URL, value: Buffer.from(RetryInfo.encode({ retryDelay }).finish()) });
  }
  return Status.encode({ code: error.code, message: error.message, details }).finish();
}

/** The known details of a `grpc-status-details-bin` value; undefined when it is not a Status. */
export function decodeStatusDetails(bytes: Uint8Array): StatusDetails | undefined {
  let status: Status;
  try {
    status = Status.decode(bytes);
  } catch {
    return undefined;
  }
  const found: StatusDetails = {};
  for (const any of status.details) {
    try {
      if (any.typeUrl === ERROR_INFO_URL) found.errorInfo = ErrorInfo.decode(any.value);
      else if (any.typeUrl === BAD_REQUEST_URL) found.badRequest = BadRequest.decode(any.value);
      else if (any.typeUrl === RETRY_INFO_URL) found.retryInfo = RetryInfo.decode(any.value);
    } catch {
      // a detail we cannot read is skipped; the code and message still stand
    }
  }
  return found;
}

/** Rebuilds a DomainError from a status another service sent, keeping reason, fields, metadata and retry time. */
export function domainErrorFromStatus(code: number, message: string, details: StatusDetails = {}): DomainError {
  const { field, ...metadata } = details.errorInfo?.metadata ?? {};
  const violations: FieldViolation[] = (details.badRequest?.fieldViolations ?? []).map((v) => ({
    field: v.field,
    description: v.description,
    reason: v.reason,
  }));
  const retryAfterSeconds = details.retryInfo?.retryDelay?.seconds;
  return new DomainError(code as GrpcCode, message, {
    // A peer's reason comes from this same catalog (or a newer one): kept as it came, never rewritten.
    reason: (details.errorInfo?.reason as Reason | undefined) || defaultReason(code),
    ...(field ? { field } : {}),
    ...(violations.length > 0 ? { violations } : {}),
    ...(Object.keys(metadata).length > 0 ? { metadata } : {}),
    ...(retryAfterSeconds ? { retryAfterSeconds } : {}),
  });
}
