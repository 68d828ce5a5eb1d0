/**
 * The contract's field rules (buf.validate) refused the same way on every entry point: Connect
 * JSON (checked by the gateway's interceptor), the REST aliases (the service's answer, relayed)
 * and a raw grpc-js client on the public gRPC port (checked by the service). Each answers
 * INVALID_ARGUMENT with the standard google.rpc details, decoded here with the stock generated
 * types: a BadRequest naming the field and an ErrorInfo with the stable reason.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { BadRequestSchema, ErrorInfoSchema } from "@weelo/contracts/es/google/rpc/error_details_pb";
import { BadRequest, ErrorInfo } from "@weelo/contracts/grpc/google/rpc/error_details";
import { Status } from "@weelo/contracts/grpc/google/rpc/status";
import { GetQuoteRequest, GetQuoteResponse } from "@weelo/contracts/grpc/weelo/pricing/v1/pricing_service";
import { bearer, HINJEWADI, PUNE, startTestSystem, type TestSystem } from "./test-support.js";

const GET_QUOTE = "/weelo.pricing.v1.PricingService/GetQuote";
const CREATE_BOOKING = "/weelo.booking.v1.BookingService/CreateBooking";
const tooManyTrucks = { pickup: PUNE, drop: HINJEWADI, vehicleType: "mini_truck", vehicleCount: 21 };

interface ConnectDetail {
  type: string;
  value: string;
  debug?: unknown;
}

/** A Connect JSON error detail decoded from its binary value with the stock protobuf-es type. */
function connectDetail<T>(details: ConnectDetail[] | undefined, type: string, decode: (bytes: Uint8Array) => T): T {
  const found = details?.find((d) => d.type === type);
  assert.ok(found, `a ${type} detail in ${JSON.stringify(details)}`);
  return decode(Buffer.from(found.value, "base64"));
}

describe("contract field rules on every entry point", () => {
  let system: TestSystem;
  let customer: Awaited<ReturnType<TestSystem["login"]>>;
  before(async () => {
    system = await startTestSystem();
    customer = await system.login("customer");
  });
  after(async () => {
    await system?.stop();
  });

  it("Connect JSON: INVALID_ARGUMENT with a google.rpc.BadRequest naming vehicle_count and the stable reason", async () => {
    const refused = await system.connect(GET_QUOTE, tooManyTrucks, bearer(customer.accessToken));
    assert.equal(refused.status, 400);
    assert.equal(refused.body.code, "invalid_argument");
    assert.match(refused.body.message, /vehicle_count: must be 1 to 20/);
    const badRequest = connectDetail(refused.body.details, "google.rpc.BadRequest", (b) =>
      fromBinary(BadRequestSchema, b),
    );
    assert.deepEqual(
      badRequest.fieldViolations.map((v) => [v.field, v.reason]),
      [["vehicle_count", "VEHICLE_COUNT_OUT_OF_RANGE"]],
    );
    const info = connectDetail(refused.body.details, "google.rpc.ErrorInfo", (b) => fromBinary(ErrorInfoSchema, b));
    assert.deepEqual([info.reason, info.domain], ["VEHICLE_COUNT_OUT_OF_RANGE", "weelo.app"]);
  });

  it("Connect JSON: every wrong field of a request is listed, and authentication still comes first", async () => {
    const order = { quoteToken: "not-checked-yet", vehicleCount: 0, weightKg: 100_001 };
    const refused = await system.connect(CREATE_BOOKING, order, bearer(customer.accessToken));
    assert.equal(refused.status, 400);
    const badRequest = connectDetail(refused.body.details, "google.rpc.BadRequest", (b) =>
      fromBinary(BadRequestSchema, b),
    );
    assert.deepEqual(
      badRequest.fieldViolations.map((v) => [v.field, v.reason]),
      [
        ["vehicle_count", "VEHICLE_COUNT_OUT_OF_RANGE"],
        ["weight_kg", "int32.gte_lte"],
      ],
    );
    const anonymous = await system.connect(CREATE_BOOKING, order);
    assert.equal(anonymous.status, 401, "an anonymous caller learns nothing about the rules");
    assert.equal(anonymous.body.code, "unauthenticated");
  });

  it("REST: 400 with the reason as code, the field, and every violation", async () => {
    const refused = await system.rest("POST", "/api/v1/quotes", tooManyTrucks, bearer(customer.accessToken));
    assert.equal(refused.status, 400);
    assert.equal(refused.body.success, false);
    assert.equal(refused.body.error.code, "VEHICLE_COUNT_OUT_OF_RANGE");
    assert.equal(refused.body.error.field, "vehicle_count");
    assert.deepEqual(refused.body.error.violations, [
      { field: "vehicle_count", description: "must be 1 to 20", reason: "VEHICLE_COUNT_OUT_OF_RANGE" },
    ]);
  });

  it("raw grpc-js on the public port: INVALID_ARGUMENT with google.rpc.Status details in grpc-status-details-bin", async () => {
    const client = new grpc.Client(`127.0.0.1:${system.grpcPort}`, grpc.credentials.createInsecure());
    try {
      const metadata = new grpc.Metadata();
      metadata.set("authorization", `Bearer ${customer.accessToken}`);
      const error = await new Promise<grpc.ServiceError>((resolve, reject) => {
        client.makeUnaryRequest(
          GET_QUOTE,
          (request: GetQuoteRequest) => Buffer.from(GetQuoteRequest.encode(request).finish()),
          (bytes: Buffer) => GetQuoteResponse.decode(bytes),
          GetQuoteRequest.fromPartial(tooManyTrucks),
          metadata,
          { deadline: Date.now() + 10_000 },
          (err) => (err ? resolve(err) : reject(new Error("a quote for 21 trucks was accepted"))),
        );
      });
      assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
      const raw = error.metadata.get("grpc-status-details-bin")[0];
      assert.ok(raw instanceof Buffer, "the status carries grpc-status-details-bin");
      const status = Status.decode(raw);
      assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
      const detail = (type: string) => status.details.find((d) => d.typeUrl === `type.googleapis.com/${type}`);
      const badRequest = BadRequest.decode(detail("google.rpc.BadRequest")!.value);
      assert.deepEqual(
        badRequest.fieldViolations.map((v) => [v.field, v.reason]),
        [["vehicle_count", "VEHICLE_COUNT_OUT_OF_RANGE"]],
      );
      const info = ErrorInfo.decode(detail("google.rpc.ErrorInfo")!.value);
      assert.deepEqual([info.reason, info.domain], ["VEHICLE_COUNT_OUT_OF_RANGE", "weelo.app"]);
    } finally {
      client.close();
    }
  });

  it("a valid request still gets its quote", async () => {
    const quoted = await system.connect(
      GET_QUOTE,
      { ...tooManyTrucks, vehicleCount: 20 },
      bearer(customer.accessToken),
    );
    assert.equal(quoted.status, 200, JSON.stringify(quoted.body));
    assert.equal(quoted.body.quote.vehicleCount, 20);
  });
});
