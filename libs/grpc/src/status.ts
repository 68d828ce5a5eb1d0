/**
 * DomainError ⇄ gRPC status, in one place. The status carries the standard
 * grpc-status-details-bin trailer (google.rpc.Status with ErrorInfo, BadRequest and RetryInfo),
 * which grpc-js, Connect and every other gRPC library's clients read.
 */
import * as grpc from "@grpc/grpc-js";
import {
  decodeStatusDetails,
  DomainError,
  domainErrorFromStatus,
  encodeStatusDetails,
  GrpcCode,
  toDomainError,
} from "@weelo/errors";

const DETAILS_KEY = "grpc-status-details-bin";

/** A grpc-js status object for a thrown error; unknown errors become a bare INTERNAL. */
export function toStatusObject(error: unknown): Partial<grpc.StatusObject> & { code: grpc.status } {
  const domain = toDomainError(error);
  const metadata = new grpc.Metadata();
  metadata.set(DETAILS_KEY, Buffer.from(encodeStatusDetails(domain)));
  return { code: domain.code as number as grpc.status, details: domain.message, metadata };
}

/** Turns an error from a grpc-js client call back into a DomainError with its reason and field. */
export function fromServiceError(error: unknown): DomainError {
  if (error instanceof DomainError) return error;
  const serviceError = error as Partial<grpc.ServiceError>;
  if (typeof serviceError.code !== "number") return toDomainError(error);
  const raw = serviceError.metadata?.get(DETAILS_KEY)[0];
  const details = raw instanceof Buffer ? decodeStatusDetails(raw) : undefined;
  const message = serviceError.details || serviceError.message || "upstream call failed";
  if (serviceError.code === GrpcCode.UNAVAILABLE && !details?.errorInfo) {
    return domainErrorFromStatus(serviceError.code, "a backend service is unavailable; try again shortly");
  }
  return domainErrorFromStatus(serviceError.code, message, details);
}
