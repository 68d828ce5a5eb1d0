/**
 * Bad input through the gateway's one port is the caller's mistake, answered with
 * INVALID_ARGUMENT (HTTP 400), never INTERNAL (500): bytes that are no protobuf message on
 * every protocol (Connect unary and streaming, gRPC unary, server and bidirectional streams,
 * gRPC-Web), and int64 values beyond what the services hold (2^53) in JSON, over Connect and
 * the REST aliases.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { UpdateLocationRequestSchema } from "@weelo/contracts/es/weelo/tracking/v1/tracking_service_pb";
import { GrpcCode } from "@weelo/errors";
import { bearer, startTestSystem, type TestSystem } from "./test-support.js";

/** Field 536870911 with wire type 7: no protobuf decoder accepts it. */
const GARBAGE = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x99, 0x01]);
const envelope = (flags: number, data: Buffer) => {
  const header = Buffer.alloc(5);
  header[0] = flags;
  header.writeUInt32BE(data.length, 1);
  return Buffer.concat([header, data]);
};
const same = (bytes: Buffer) => bytes;

describe("bad input through the gateway", () => {
  let system: TestSystem;
  let token: string;
  let raw: grpc.Client;
  const metadata = () => {
    const m = new grpc.Metadata();
    m.set("authorization", `Bearer ${token}`);
    return m;
  };
  before(async () => {
    system = await startTestSystem();
    token = (await system.login("customer")).accessToken;
    raw = new grpc.Client(`127.0.0.1:${system.gatewayPort}`, grpc.credentials.createInsecure());
  });
  after(async () => {
    raw?.close();
    await system?.stop();
  });

  const post = (path: string, contentType: string, body: Buffer | string, auth = true) =>
    fetch(`${system.url}${path}`, {
      method: "POST",
      headers: { "content-type": contentType, ...(auth ? bearer(token) : {}) },
      body,
    });

  it("answers an undecodable Connect binary body with 400 invalid_argument, with and without a token", async () => {
    for (const [path, auth] of [
      ["/weelo.booking.v1.BookingService/GetBooking", true],
      ["/weelo.identity.v1.AuthService/SendOtp", false],
    ] as const) {
      const response = await post(path, "application/proto", GARBAGE, auth);
      assert.equal(response.status, 400, path);
      const body = (await response.json()) as { code: string; message: string };
      assert.equal(body.code, "invalid_argument");
      assert.match(body.message, /not a valid protobuf message/);
    }
  });

  it("ends a Connect stream whose request cannot be decoded with invalid_argument", async () => {
    const response = await post(
      "/weelo.booking.v1.BookingService/WatchBooking",
      "application/connect+proto",
      envelope(0, GARBAGE),
    );
    const bytes = Buffer.from(await response.arrayBuffer());
    assert.equal(bytes[0], 0x02, "an end-of-stream envelope");
    const end = JSON.parse(bytes.subarray(5).toString("utf8")) as { error: { code: string } };
    assert.equal(end.error.code, "invalid_argument");
  });

  it("answers an undecodable gRPC-Web request with grpc-status INVALID_ARGUMENT in its trailers", async () => {
    const response = await post(
      "/weelo.booking.v1.BookingService/GetBooking",
      "application/grpc-web+proto",
      envelope(0, GARBAGE),
    );
    const trailers = Buffer.from(await response.arrayBuffer())
      .subarray(5)
      .toString("utf8");
    assert.match(trailers, new RegExp(`grpc-status: ${GrpcCode.INVALID_ARGUMENT}\\r\\n`));
  });

  it("answers undecodable gRPC requests with INVALID_ARGUMENT: unary, server stream and bidirectional stream", async () => {
    const unary = await new Promise<grpc.ServiceError | null>((resolve) =>
      raw.makeUnaryRequest("/weelo.booking.v1.BookingService/GetBooking", same, same, GARBAGE, metadata(), (error) =>
        resolve(error),
      ),
    );
    assert.equal(unary?.code, GrpcCode.INVALID_ARGUMENT);
    assert.match(unary!.details, /not a valid protobuf message/);

    const ended = (call: grpc.ClientReadableStream<Buffer> | grpc.ClientDuplexStream<Buffer, Buffer>) =>
      new Promise<number>((resolve) => {
        call.on("data", () => undefined);
        call.on("error", (error: grpc.ServiceError) => resolve(error.code));
        call.on("end", () => resolve(GrpcCode.OK));
      });
    const watch = raw.makeServerStreamRequest(
      "/weelo.booking.v1.BookingService/WatchBooking",
      same,
      same,
      GARBAGE,
      metadata(),
    );
    assert.equal(await ended(watch), GrpcCode.INVALID_ARGUMENT);

    const stream = raw.makeBidiStreamRequest(
      "/weelo.tracking.v1.TrackingService/StreamLocation",
      same,
      same,
      metadata(),
    );
    stream.write(GARBAGE);
    assert.equal(
      await ended(stream),
      GrpcCode.INVALID_ARGUMENT,
      "the caller's bad message, not the cancellation it caused upstream",
    );
  });

  it("refuses an int64 beyond 2^53 with 400 over Connect JSON and the REST alias (the service cannot hold it as a number)", async () => {
    const body = JSON.stringify({
      points: [{ seq: "9007199254740993", recordedAt: new Date().toISOString(), lat: 18.52, lng: 73.85, accuracyM: 5 }],
    });
    const connect = await post("/weelo.tracking.v1.TrackingService/UpdateLocation", "application/json", body);
    assert.equal(connect.status, 400);
    assert.equal(((await connect.json()) as { code: string }).code, "invalid_argument");

    const rest = await post("/api/v1/tracking/location", "application/json", body);
    assert.equal(rest.status, 400);
    const envelopeBody = (await rest.json()) as { success: boolean; error: { code: string; message: string } };
    assert.equal(envelopeBody.success, false);
    assert.equal(envelopeBody.error.code, "NUMBER_OUT_OF_RANGE");
    assert.equal((envelopeBody.error as { field?: string }).field, "points[0].seq", "the gateway names the field");

    const watch = await post(
      "/weelo.booking.v1.BookingService/WatchBooking",
      "application/connect+json",
      envelope(
        0,
        Buffer.from(
          JSON.stringify({ bookingId: "0190c6f6-0000-7000-8000-000000000000", afterSequence: "18446744073709551615" }),
        ),
      ),
    );
    const end = Buffer.from(await watch.arrayBuffer());
    // Walk the envelopes (flags byte, 4-byte length, data) to the end-of-stream one (flag 0x02).
    let at = 0;
    while (at < end.length && (end[at]! & 0x02) === 0) at += 5 + end.readUInt32BE(at + 1);
    const last = JSON.parse(end.subarray(at + 5).toString("utf8")) as { error?: { code: string } };
    assert.equal(last.error?.code, "invalid_argument");
  });

  it("has the services themselves refuse an int64 they cannot hold with INVALID_ARGUMENT (called past the gateway)", async () => {
    const direct = new grpc.Client(`127.0.0.1:${system.grpcPort}`, grpc.credentials.createInsecure());
    try {
      const bytes = Buffer.from(
        toBinary(
          UpdateLocationRequestSchema,
          create(UpdateLocationRequestSchema, { points: [{ seq: 2n ** 60n, lat: 18.52, lng: 73.85 }] }),
        ),
      );
      const error = await new Promise<grpc.ServiceError | null>((resolve) =>
        direct.makeUnaryRequest(
          "/weelo.tracking.v1.TrackingService/UpdateLocation",
          same,
          same,
          bytes,
          metadata(),
          (err) => resolve(err),
        ),
      );
      assert.equal(error?.code, GrpcCode.INVALID_ARGUMENT);
      assert.match(error!.details, /not a valid UpdateLocation message/);
    } finally {
      direct.close();
    }
  });

  it("refuses free text with a bidi override or a zero-width character with 400 naming the field, over Connect and REST", async () => {
    const connect = await post(
      "/weelo.identity.v1.ProfileService/UpdateProfile",
      "application/json",
      JSON.stringify({ name: "Anil \u202Eexe.gpj" }),
    );
    assert.equal(connect.status, 400);
    const body = (await connect.json()) as {
      code: string;
      message: string;
      details: { type: string; debug: { reason?: string; fieldViolations?: { field: string }[] } }[];
    };
    assert.equal(body.code, "invalid_argument");
    assert.match(
      body.message,
      /name must not contain invisible direction or zero-width characters \(U\+202E at character 6\)/,
    );
    const detail = (type: string) => body.details.find((d) => d.type === type)?.debug;
    assert.deepEqual(
      [detail("google.rpc.BadRequest")?.fieldViolations?.[0]?.field, detail("google.rpc.ErrorInfo")?.reason],
      ["name", "TEXT_INVISIBLE_CHARACTER"],
    );

    const transporter = await system.login("transporter");
    const vehicle = {
      idempotencyKey: randomUUID(),
      registrationNumber: "MH12AB4321",
      vehicleType: "mini_truck",
      capacityKg: 750,
      makeModel: "Tata\u200BAce",
    };
    const rest = await system.rest("POST", "/api/v1/vehicles", vehicle, bearer(transporter.accessToken));
    assert.equal(rest.status, 400);
    assert.deepEqual([rest.body.error.code, rest.body.error.field], ["TEXT_INVISIBLE_CHARACTER", "make_model"]);
  });

  it("refuses free text longer than its field's contract allows with 400 TEXT_LENGTH, over Connect and REST", async () => {
    const connect = await post(
      "/weelo.identity.v1.ProfileService/UpdateProfile",
      "application/json",
      JSON.stringify({ name: "अ".repeat(101) }),
    );
    assert.equal(connect.status, 400);
    const body = (await connect.json()) as {
      message: string;
      details: { type: string; debug: { reason?: string; fieldViolations?: { field: string }[] } }[];
    };
    assert.equal(body.message, "name: must be at most 100 characters");
    const detail = (type: string) => body.details.find((d) => d.type === type)?.debug;
    assert.deepEqual(
      [detail("google.rpc.BadRequest")?.fieldViolations?.[0]?.field, detail("google.rpc.ErrorInfo")?.reason],
      ["name", "TEXT_LENGTH"],
    );
    const fits = await post(
      "/weelo.identity.v1.ProfileService/UpdateProfile",
      "application/json",
      JSON.stringify({ name: "अ".repeat(100) }),
    );
    assert.equal(fits.status, 200, "100 characters (300 bytes) fit");

    const transporter = await system.login("transporter");
    const vehicle = {
      idempotencyKey: randomUUID(),
      registrationNumber: "MH12AB4322",
      vehicleType: "mini_truck",
      capacityKg: 750,
      makeModel: "x".repeat(101),
    };
    const rest = await system.rest("POST", "/api/v1/vehicles", vehicle, bearer(transporter.accessToken));
    assert.equal(rest.status, 400);
    assert.deepEqual([rest.body.error.code, rest.body.error.field], ["TEXT_LENGTH", "make_model"]);
  });

  it("answers a bidirectional stream called over HTTP/1.1 with 400 and the reason, not connect-node's 505 (found by the fuzzer)", async () => {
    const response = await post(
      "/weelo.tracking.v1.TrackingService/StreamLocation",
      "application/connect+json",
      envelope(0, Buffer.from("{}")),
    );
    assert.equal(response.status, 400);
    const body = (await response.json()) as { code: string; message: string };
    assert.equal(body.code, "invalid_argument");
    assert.match(body.message, /bidirectional stream: call it over HTTP\/2/);
  });

  it("answers a path parameter whose percent-encoding is not UTF-8 with 400, not 500 (found by the fuzzer)", async () => {
    for (const raw of ["%FF", "%E0%A4", "%ED%A0%80"]) {
      const response = await system.rest("GET", `/api/v1/bookings/${raw}`, undefined, bearer(token));
      assert.equal(response.status, 400, raw);
      assert.equal(response.body.success, false);
    }
  });

  it("still answers /health afterwards", async () => {
    assert.equal((await fetch(`${system.url}/health`)).status, 200);
  });
});
