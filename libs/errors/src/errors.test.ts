import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  AlreadyExistsError,
  decodeStatusDetails,
  type DomainError,
  domainErrorFromStatus,
  encodeStatusDetails,
  FailedPreconditionError,
  GrpcCode,
  httpStatusOf,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  toDomainError,
  UnauthenticatedError,
  UnavailableError,
} from "./index.js";

describe("domain errors", () => {
  it("map to the documented HTTP statuses through their gRPC codes", () => {
    const cases: [DomainError, number, number][] = [
      [new InvalidArgumentError("phone", "bad"), GrpcCode.INVALID_ARGUMENT, 400],
      [new UnauthenticatedError(), GrpcCode.UNAUTHENTICATED, 401],
      [new PermissionDeniedError("no"), GrpcCode.PERMISSION_DENIED, 403],
      [new NotFoundError("gone"), GrpcCode.NOT_FOUND, 404],
      [new AlreadyExistsError("taken"), GrpcCode.ALREADY_EXISTS, 409],
      [new FailedPreconditionError("state"), GrpcCode.FAILED_PRECONDITION, 400],
      [new ResourceExhaustedError("slow down", { retryAfterSeconds: 5 }), GrpcCode.RESOURCE_EXHAUSTED, 429],
      [new UnavailableError("down"), GrpcCode.UNAVAILABLE, 503],
    ];
    for (const [error, code, status] of cases) {
      assert.equal(error.code, code, error.name);
      assert.equal(error.httpStatus, status, error.name);
    }
    assert.equal(httpStatusOf(999), 500);
  });

  it("hide unknown errors behind a bare internal error", () => {
    const wrapped = toDomainError(new Error("relation users does not exist at character 15"));
    assert.equal(wrapped.code, GrpcCode.INTERNAL);
    assert.equal(wrapped.message, "internal error");
    assert.ok(wrapped.cause instanceof Error, "the cause stays for the log");
  });

  it("call a database or socket outage UNAVAILABLE, which clients may retry", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
    const shutdown = Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" });
    const lost = Object.assign(new Error("connection failure"), { code: "08006" });
    for (const error of [refused, shutdown, lost]) {
      const domain = toDomainError(error);
      assert.equal(domain.code, GrpcCode.UNAVAILABLE, error.message);
      assert.equal(domain.httpStatus, 503);
      assert.ok(!domain.message.includes("5432"), "no internals in the message");
    }
    assert.equal(toDomainError(Object.assign(new Error("duplicate key"), { code: "23505" })).code, GrpcCode.INTERNAL);
  });

  it("travel in grpc-status-details-bin as google.rpc ErrorInfo, BadRequest and RetryInfo", () => {
    const error = new ResourceExhaustedError("too many", {
      reason: "RATE_LIMITED",
      field: "phone",
      retryAfterSeconds: 42,
    });
    const details = decodeStatusDetails(encodeStatusDetails(error));
    assert.deepEqual(details?.errorInfo, { reason: "RATE_LIMITED", domain: "weelo.app", metadata: { field: "phone" } });
    assert.deepEqual(details?.retryInfo?.retryDelay, { seconds: 42, nanos: 0 });
    const rebuilt = domainErrorFromStatus(error.code, error.message, details);
    assert.equal(rebuilt.reason, "RATE_LIMITED");
    assert.equal(rebuilt.field, "phone");
    assert.equal(rebuilt.retryAfterSeconds, 42);
    assert.equal(rebuilt.httpStatus, 429);
  });

  it("name every wrong field of an INVALID_ARGUMENT in a google.rpc.BadRequest", () => {
    const violations = [
      { field: "vehicle_count", description: "must be 1 to 20", reason: "int32.gte_lte" },
      { field: "pickup.line1", description: "required", reason: "required" },
    ];
    const error = new InvalidArgumentError("", "2 fields are invalid", { violations });
    assert.equal(error.field, "vehicle_count", "the first violation names the field");
    const details = decodeStatusDetails(encodeStatusDetails(error));
    assert.deepEqual(
      details?.badRequest?.fieldViolations.map((v) => [v.field, v.reason]),
      violations.map((v) => [v.field, v.reason]),
    );
    assert.deepEqual(details?.errorInfo?.metadata, {}, "the field is in the BadRequest, not repeated in metadata");
    const rebuilt = domainErrorFromStatus(error.code, error.message, details);
    assert.deepEqual(rebuilt.violations, violations);
    assert.equal(rebuilt.reason, "INVALID_ARGUMENT");
  });

  it("ignore status details that carry no known detail", () => {
    assert.deepEqual(decodeStatusDetails(new Uint8Array([8, 3, 18, 3, 98, 97, 100])), {});
    assert.equal(decodeStatusDetails(new Uint8Array([0xff, 0xff])), undefined);
  });
});
