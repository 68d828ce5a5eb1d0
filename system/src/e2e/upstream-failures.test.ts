/**
 * What clients see when the upstream fails in ways a healthy service never answers: a stream
 * torn mid-way (the upstream reset it, or its connection dropped, as when the process dies)
 * reaches Connect clients and /socket error frames as UNAVAILABLE, which they retry; and an
 * error message with the characters gRPC percent-encodes differently per library (";" ",")
 * reaches grpc-js clients intact. The booking upstream here is a bare HTTP/2 server speaking
 * gRPC over the mesh's mutual TLS (with booking's certificate), so each failure is exactly the
 * one under test.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { BookingStatus } from "@weelo/contracts/es/weelo/booking/v1/booking_pb";
import { BookingService, WatchBookingResponseSchema } from "@weelo/contracts/es/weelo/booking/v1/booking_service_pb";
import { BookingServiceClient } from "@weelo/contracts/grpc/weelo/booking/v1/booking_service";
import { createMeshCa, issueServiceCertificate, type KeyPairPem } from "@weelo/grpc";
import { until } from "@weelo/testing";
import { WebSocket } from "ws";
import { bearer, startTestSystem, type TestSystem } from "./test-support.js";

/** How the fake upstream ends a WatchBooking stream after its first message. */
type Tear = "reset" | "drop";
const MESSAGE_WITH_SEPARATORS = "pickup; drop, and stops: 100% required for ₹500 (a=b & c/d?)";

/** A gRPC frame: flag byte, big-endian length, message. */
function grpcFrame(message: Uint8Array): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

/**
 * The booking upstream: WatchBooking sends the booking, then tears the stream the way the
 * booking id asks ("reset-…": RST_STREAM INTERNAL_ERROR, as when the upstream destroys it;
 * "drop-…": the whole connection, as when the process dies). GetBooking fails with
 * INVALID_ARGUMENT and a message full of separators, encoded as grpc-js servers do.
 */
async function startTornUpstream(): Promise<{
  address: string;
  prove(identity: KeyPairPem & { caPem: string }): void;
  close(): Promise<void>;
}> {
  // Listening first (the system under test needs the address), proving booking's identity once the system's mesh CA exists.
  const placeholder = await issueServiceCertificate(await createMeshCa("placeholder"), ["spiffe://weelo/booking"]);
  const server = http2.createSecureServer({
    key: placeholder.privateKeyPem,
    cert: placeholder.certificatePem,
    requestCert: true,
    rejectUnauthorized: true,
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => undefined); // the resets below are the point
    const path = String(headers[":path"]);
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => {
      if (path === "/weelo.booking.v1.BookingService/GetBooking") {
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.once("wantTrailers", () =>
          stream.sendTrailers({
            "grpc-status": String(grpc.status.INVALID_ARGUMENT),
            "grpc-message": encodeURI(MESSAGE_WITH_SEPARATORS),
          }),
        );
        stream.end();
        return;
      }
      if (path !== "/weelo.booking.v1.BookingService/WatchBooking")
        return void stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      // The request message is field 1 (booking_id), a string: its bytes follow the 5-byte frame header and a 2-byte tag/length.
      const bookingId = Buffer.concat(chunks).subarray(7).toString("utf8");
      stream.respond({ ":status": 200, "content-type": "application/grpc" });
      const first = create(WatchBookingResponseSchema, {
        sequence: 1n,
        booking: { id: bookingId, status: BookingStatus.PENDING },
      });
      stream.write(grpcFrame(toBinary(WatchBookingResponseSchema, first)), () => {
        setTimeout(() => {
          if (bookingId.startsWith("drop-")) stream.session?.destroy();
          else stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        }, 50);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    prove: (identity) =>
      server.setSecureContext({ key: identity.privateKeyPem, cert: identity.certificatePem, ca: identity.caPem }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const session of sessions) session.destroy();
        server.close(() => resolve());
      }),
  };
}

describe("upstream failures through the gateway", () => {
  let upstream: Awaited<ReturnType<typeof startTornUpstream>>;
  let system: TestSystem;
  let accessToken: string;

  before(async () => {
    upstream = await startTornUpstream();
    system = await startTestSystem({ OTP_RESEND_COOLDOWN_S: "0", BOOKING_GRPC_URL: upstream.address });
    upstream.prove(await system.platform.mesh.issue(["booking"]));
    ({ accessToken } = await system.login("customer"));
  });
  after(async () => {
    await system?.stop();
    await upstream?.close();
  });

  for (const tear of ["reset", "drop"] as const satisfies readonly Tear[]) {
    it(`answers a Connect client UNAVAILABLE when the upstream stream is torn (${tear})`, async () => {
      const client = createClient(BookingService, createConnectTransport({ baseUrl: system.url, httpVersion: "1.1" }));
      const received: bigint[] = [];
      const failure = await (async () => {
        for await (const message of client.watchBooking(
          { bookingId: `${tear}-${randomUUID()}` },
          { headers: bearer(accessToken) },
        ))
          received.push(message.sequence);
      })().then(
        () => undefined,
        (error: unknown) => error,
      );
      assert.deepEqual(received, [1n], "the message before the tear arrived");
      assert.ok(failure instanceof ConnectError, `a ConnectError, got ${String(failure)}`);
      assert.equal(failure.code, Code.Unavailable, failure.message);
      assert.doesNotMatch(failure.rawMessage, /RST_STREAM/, "no transport internals in the message");
    });

    it(`sends a /socket error frame UNAVAILABLE when the upstream stream is torn (${tear})`, async () => {
      const ws = new WebSocket(`${system.url.replace("http", "ws")}/socket?access_token=${accessToken}`);
      const frames: any[] = [];
      ws.on("message", (data) => frames.push(JSON.parse(String(data))));
      await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
      try {
        await until("ready", () => frames.some((f) => f.type === "ready"));
        const bookingId = `${tear}-${randomUUID()}`;
        ws.send(JSON.stringify({ type: "subscribe", bookingId }));
        await until("an error frame", () => frames.some((f) => f.type === "error"));
        assert.ok(
          frames.some((f) => f.type === "subscribed" && f.bookingId === bookingId),
          JSON.stringify(frames),
        );
        const error = frames.find((f) => f.type === "error");
        assert.equal(error.code, "UNAVAILABLE", JSON.stringify(error));
        assert.equal(error.channel, "status");
        assert.equal(error.bookingId, bookingId);
      } finally {
        ws.close();
      }
    });
  }

  it("gives grpc-js clients an upstream error message with ';' and ',' intact", async () => {
    const client = new BookingServiceClient(`127.0.0.1:${system.gatewayPort}`, grpc.credentials.createInsecure());
    try {
      const metadata = new grpc.Metadata();
      metadata.set("authorization", `Bearer ${accessToken}`);
      const error = await new Promise<grpc.ServiceError | null>((resolve) =>
        client.getBooking({ bookingId: randomUUID() }, metadata, (failure) => resolve(failure)),
      );
      assert.ok(error, "the call failed");
      assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
      assert.equal(error.details, MESSAGE_WITH_SEPARATORS);
    } finally {
      client.close();
    }
  });

  for (const [name, transport] of [
    ["Connect", () => createConnectTransport({ baseUrl: system.url, httpVersion: "2" })],
    ["connect-es gRPC", () => createGrpcTransport({ baseUrl: system.url })],
  ] as const) {
    it(`gives ${name} clients the same message intact`, async () => {
      const client = createClient(BookingService, transport());
      await assert.rejects(
        client.getBooking({ bookingId: randomUUID() }, { headers: bearer(accessToken) }),
        (error: unknown) => {
          assert.ok(error instanceof ConnectError);
          assert.equal(error.code, Code.InvalidArgument);
          assert.equal(error.rawMessage, MESSAGE_WITH_SEPARATORS);
          return true;
        },
      );
    });
  }
});
