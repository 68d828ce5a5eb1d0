/**
 * A revoked session closes what it has open at once, not at the next call: through the
 * gateway, a customer watches a booking over a Connect server stream and follows it on a
 * /socket; when the session ends (logout, a reused refresh token) the stream ends with
 * UNAUTHENTICATED and the socket closes with 4401 within about a second (identity announces
 * the revocation on the bus; the services' streams and the gateway's sockets watch it), and
 * the refresh token is refused.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { Code, ConnectError, createClient as createConnectClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { BookingService } from "@weelo/contracts/es/weelo/booking/v1/booking_service_pb";
import { ErrorInfoSchema } from "@weelo/contracts/es/google/rpc/error_details_pb";
import { AccountAdminServiceService } from "@weelo/contracts/grpc/weelo/identity/v1/account_admin_service";
import {
  TrackingServiceClient,
  type StreamLocationResponse,
} from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_service";
import { DomainError, GrpcCode } from "@weelo/errors";
import { fromServiceError, type ServiceClient } from "@weelo/grpc";
import { until } from "@weelo/testing";
import { WebSocket } from "ws";
import { CLOSE } from "@weelo/gateway";
import { address, bearer, HINJEWADI, PUNE, startTestSystem, uniquePhone, type TestSystem } from "./test-support.js";

/** How soon after the revocation open streams and sockets must be closed (1 s, plus slack for a loaded test machine). */
const PROMPTLY_MS = 1500;

describe("revoked sessions close their streams and sockets", () => {
  let system: TestSystem;
  /** Identity's internal AccountAdminService, reached on the mesh as the ops console would. */
  let admin: ServiceClient<typeof AccountAdminServiceService>;
  before(async () => {
    // The periodic socket re-check is pushed out of the way: only the revocation event can close in time.
    system = await startTestSystem({
      OTP_RESEND_COOLDOWN_S: "0",
      WATCH_POLL_MS: "100",
      SOCKET_REVOCATION_CHECK_MS: "600000",
      TRUST_PROXY: "true",
    });
    admin = system.platform.meshClient(AccountAdminServiceService, `127.0.0.1:${system.meshPort}`, "ops");
  });
  after(async () => {
    admin?.close();
    await system?.stop();
  });

  async function book(customer: { accessToken: string }): Promise<string> {
    const quote = await system.rest(
      "POST",
      "/api/v1/quotes",
      { pickup: PUNE, drop: HINJEWADI, vehicleType: "pickup_8ft", vehicleCount: 1 },
      bearer(customer.accessToken),
    );
    assert.equal(quote.status, 201, JSON.stringify(quote.body));
    const created = await system.rest(
      "POST",
      "/api/v1/bookings",
      {
        quoteToken: quote.body.data.quoteToken,
        pickup: address(PUNE),
        drop: address(HINJEWADI, "Kavita Rao"),
        vehicleType: "pickup_8ft",
        vehicleCount: 1,
        goodsType: "furniture",
        weightKg: 800,
        idempotencyKey: randomUUID(),
      },
      bearer(customer.accessToken),
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return created.body.data.order.bookings[0].id as string;
  }

  /** A Connect server stream of the booking through the gateway; `ended` settles with how it ended. */
  async function watch(bookingId: string, accessToken: string) {
    const client = createConnectClient(
      BookingService,
      createConnectTransport({ baseUrl: system.url, httpVersion: "1.1" }),
    );
    let messages = 0;
    const ended = (async (): Promise<{ at: number; error: ConnectError | undefined }> => {
      try {
        for await (const _ of client.watchBooking({ bookingId }, { headers: bearer(accessToken) })) messages += 1;
        return { at: Date.now(), error: undefined };
      } catch (error) {
        return { at: Date.now(), error: ConnectError.from(error) };
      }
    })();
    await until("the stream's first message", () => messages >= 1, 10_000);
    return { ended };
  }

  /** A /socket authenticated with the token (and following the booking, when one is given); `closed` settles with the close code. */
  async function socket(bookingId: string | undefined, accessToken: string) {
    const ws = new WebSocket(`${system.url.replace("http", "ws")}/socket?access_token=${accessToken}`, {
      headers: { "x-forwarded-for": `203.0.113.${Math.floor(Math.random() * 250) + 1}` },
    });
    const frames: any[] = [];
    ws.on("message", (data) => frames.push(JSON.parse(String(data))));
    const closed = new Promise<{ at: number; code: number }>((resolve) =>
      ws.once("close", (code) => resolve({ at: Date.now(), code })),
    );
    await until("the socket is ready", () => frames.some((f) => f.type === "ready"), 10_000);
    if (bookingId === undefined) return { closed, frames };
    ws.send(JSON.stringify({ type: "subscribe", bookingId }));
    await until("the socket follows the booking", () => frames.some((f) => f.type === "subscribed"), 10_000);
    return { closed, frames };
  }

  async function assertClosedPromptly(
    revokedAt: number,
    stream: Awaited<ReturnType<typeof watch>>,
    sock: Awaited<ReturnType<typeof socket>>,
  ) {
    const streamEnd = await stream.ended;
    assert.equal(
      streamEnd.error?.code,
      Code.Unauthenticated,
      `the stream ends unauthenticated: ${streamEnd.error?.message}`,
    );
    assert.match(streamEnd.error!.rawMessage, /session has ended/);
    assert.deepEqual(
      streamEnd.error!.findDetails(ErrorInfoSchema).map((d) => d.reason),
      ["SESSION_REVOKED"],
      "the service's reason is relayed",
    );
    assert.ok(
      streamEnd.at - revokedAt < PROMPTLY_MS,
      `the stream ended ${streamEnd.at - revokedAt} ms after the revocation`,
    );
    const socketEnd = await sock.closed;
    assert.equal(socketEnd.code, CLOSE.unauthenticated);
    assert.ok(
      socketEnd.at - revokedAt < PROMPTLY_MS,
      `the socket closed ${socketEnd.at - revokedAt} ms after the revocation`,
    );
    assert.ok(
      sock.frames.some((f) => f.type === "error" && f.code === "UNAUTHENTICATED"),
      "the socket says why before closing",
    );
  }

  it("logout ends the session's Connect stream and /socket within a second; its refresh token is refused", async () => {
    const customer = await system.login("customer");
    const bookingId = await book(customer);
    const stream = await watch(bookingId, customer.accessToken);
    const sock = await socket(bookingId, customer.accessToken);

    const revokedAt = Date.now();
    const logout = await system.rest("POST", "/api/v1/auth/logout", {}, bearer(customer.accessToken));
    assert.equal(logout.status, 200);
    await assertClosedPromptly(revokedAt, stream, sock);
    const refresh = await system.rest("POST", "/api/v1/auth/refresh", { refreshToken: customer.refreshToken });
    assert.equal(refresh.status, 401);
    assert.equal(refresh.body.error.code, "SESSION_REVOKED");
  });

  it("a reused refresh token ends the session's stream and socket too, and a new stream with its token is refused", async () => {
    const customer = await system.login("customer");
    const bookingId = await book(customer);
    const stream = await watch(bookingId, customer.accessToken);
    const sock = await socket(bookingId, customer.accessToken);

    assert.equal(
      (await system.rest("POST", "/api/v1/auth/refresh", { refreshToken: customer.refreshToken })).status,
      200,
    );
    const revokedAt = Date.now();
    const reused = await system.rest("POST", "/api/v1/auth/refresh", { refreshToken: customer.refreshToken });
    assert.equal(reused.body.error.code, "REFRESH_TOKEN_REUSED");
    await assertClosedPromptly(revokedAt, stream, sock);

    const client = createConnectClient(
      BookingService,
      createConnectTransport({ baseUrl: system.url, httpVersion: "1.1" }),
    );
    await assert.rejects(
      (async () => {
        for await (const _ of client.watchBooking({ bookingId }, { headers: bearer(customer.accessToken) })) break;
      })(),
      (error: unknown) => ConnectError.from(error).code === Code.Unauthenticated,
    );
  });

  it("blocking an account ends its streams and sockets at once; it can neither refresh nor log in until unblocked", async () => {
    const customer = await system.login("customer");
    const bookingId = await book(customer);
    const stream = await watch(bookingId, customer.accessToken);
    const sock = await socket(bookingId, customer.accessToken);

    const revokedAt = Date.now();
    const blocked = await admin.blockUser({
      userId: customer.user.id,
      reason: "fraudulent bookings reported by three transporters",
    });
    assert.equal(blocked.userId, customer.user.id);
    assert.equal(blocked.sessionsRevoked, 1);
    assert.ok(blocked.blockedAt instanceof Date);
    await assertClosedPromptly(revokedAt, stream, sock);

    assert.equal(
      (await system.rest("POST", "/api/v1/auth/refresh", { refreshToken: customer.refreshToken })).status,
      401,
    );
    const sent = await system.rest("POST", "/api/v1/auth/send-otp", { phone: customer.phone, role: "customer" });
    assert.equal(sent.status, 200);
    const login = await system.rest("POST", "/api/v1/auth/verify-otp", {
      phone: customer.phone,
      otp: sent.body.data.devOtp,
      role: "customer",
    });
    assert.equal(login.status, 403);
    assert.equal(login.body.error.code, "ACCOUNT_BLOCKED");

    const again = await admin.blockUser({ userId: customer.user.id, reason: "second report" });
    assert.equal(again.sessionsRevoked, 0, "blocking twice changes nothing");
    assert.equal(again.blockedAt?.getTime(), blocked.blockedAt?.getTime(), "the first block is kept");

    assert.deepEqual(await admin.unblockUser({ userId: customer.user.id, reason: "reports were mistaken" }), {
      userId: customer.user.id,
      unblocked: true,
    });
    assert.deepEqual(await admin.unblockUser({ userId: customer.user.id, reason: "again" }), {
      userId: customer.user.id,
      unblocked: false,
    });
    const back = await system.login("customer", customer.phone);
    assert.equal(back.user.id, customer.user.id, "the same account logs in again");
    assert.equal(
      (await system.connect("/weelo.identity.v1.ProfileService/GetMe", {}, bearer(back.accessToken))).status,
      200,
    );
  });

  it("refuses unknown users and empty reasons, and is not served by the gateway", async () => {
    await assert.rejects(
      admin.blockUser({ userId: randomUUID(), reason: "test" }),
      (error: unknown) => error instanceof DomainError && error.code === GrpcCode.NOT_FOUND,
    );
    const customer = await system.login("customer");
    await assert.rejects(
      admin.blockUser({ userId: customer.user.id, reason: "  " }),
      (error: unknown) =>
        error instanceof DomainError && error.code === GrpcCode.INVALID_ARGUMENT && error.field === "reason",
    );
    const viaGateway = await system.connect(
      "/weelo.identity.v1.AccountAdminService/BlockUser",
      { userId: customer.user.id, reason: "from outside" },
      bearer(customer.accessToken),
    );
    assert.notEqual(viaGateway.status, 200);
    assert.equal(
      (await system.connect("/weelo.identity.v1.ProfileService/GetMe", {}, bearer(customer.accessToken))).status,
      200,
      "the account was not blocked",
    );
  });

  it("removing a driver ends their location stream and socket at once; refresh and fleet reads are refused", async () => {
    const transporter = await system.login("transporter");
    const phone = uniquePhone();
    const added = await system.connect(
      "/weelo.fleet.v1.DriverService/AddDriver",
      { idempotencyKey: randomUUID(), name: "Ganesh Jadhav", phone, licenceNumber: "MH12 20170012345" },
      bearer(transporter.accessToken),
    );
    assert.equal(added.status, 200, JSON.stringify(added.body));
    const driver = await system.login("driver", phone);
    assert.equal(
      (
        await system.connect(
          "/weelo.fleet.v1.VehicleService/ListVehicles",
          { pageSize: 10 },
          bearer(driver.accessToken),
        )
      ).status,
      200,
      "a driver reads the fleet",
    );

    // The driver app's long-lived stream, relayed by the gateway (gRPC over h2c).
    const tracking = new TrackingServiceClient(`127.0.0.1:${system.gatewayPort}`, grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${driver.accessToken}`);
    const call = tracking.streamLocation(metadata);
    const acks: number[] = [];
    call.on("data", (message: StreamLocationResponse) => {
      if (message.kind?.$case === "ack") acks.push(message.kind.value.ackedSeq);
    });
    const streamEnded = new Promise<{ at: number; error: grpc.ServiceError | undefined }>((resolve) =>
      call
        .on("error", (error: grpc.ServiceError) => resolve({ at: Date.now(), error }))
        .on("end", () => resolve({ at: Date.now(), error: undefined })),
    );
    const sock = await socket(undefined, driver.accessToken);
    try {
      call.write({
        points: [{ seq: 1, recordedAt: new Date(), lat: 18.5204, lng: 73.8567, accuracyM: 8, speedMps: 0, heading: 0 }],
      });
      await until("the first point is acked", () => acks.includes(1), 10_000);

      const removedAt = Date.now();
      const removed = await system.connect(
        "/weelo.fleet.v1.DriverService/RemoveDriver",
        { driverId: added.body.driver.id },
        bearer(transporter.accessToken),
      );
      assert.equal(removed.status, 200, JSON.stringify(removed.body));

      const streamEnd = await streamEnded;
      assert.equal(
        streamEnd.error?.code,
        grpc.status.UNAUTHENTICATED,
        `the location stream ends unauthenticated: ${streamEnd.error?.message}`,
      );
      assert.equal(fromServiceError(streamEnd.error!).reason, "SESSION_REVOKED");
      assert.ok(
        streamEnd.at - removedAt < PROMPTLY_MS,
        `the location stream ended ${streamEnd.at - removedAt} ms after the removal`,
      );
      const socketEnd = await sock.closed;
      assert.equal(socketEnd.code, CLOSE.unauthenticated);
      assert.ok(
        socketEnd.at - removedAt < PROMPTLY_MS,
        `the socket closed ${socketEnd.at - removedAt} ms after the removal`,
      );
    } finally {
      call.cancel();
      tracking.close();
    }

    const refresh = await system.rest("POST", "/api/v1/auth/refresh", { refreshToken: driver.refreshToken });
    assert.equal(refresh.status, 401);
    assert.equal(refresh.body.error.code, "SESSION_REVOKED");
    const read = await system.connect(
      "/weelo.fleet.v1.VehicleService/ListVehicles",
      { pageSize: 10 },
      bearer(driver.accessToken),
    );
    assert.equal(read.status, 401, "the former fleet is closed to the removed driver");
  });
});
