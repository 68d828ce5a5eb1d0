/**
 * The gateway's other faces: gRPC-Web over HTTP/1.1 and Connect over HTTP/2 on the same port
 * (with the generated protobuf-es clients an app would use), an OTP that expires, and
 * readiness when a real dependency (the cache server) is unreachable.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { Role } from "@weelo/contracts/es/weelo/common/v1/common_pb";
import { AuthService } from "@weelo/contracts/es/weelo/identity/v1/auth_service_pb";
import { ProfileService } from "@weelo/contracts/es/weelo/identity/v1/profile_service_pb";
import { until } from "@weelo/testing";
import { startTestSystem, uniquePhone, type TestSystem } from "./test-support.js";

describe("gateway protocols", () => {
  let system: TestSystem;
  before(async () => {
    system = await startTestSystem({ OTP_TTL_S: "1", OTP_RESEND_COOLDOWN_S: "0" });
  });
  after(async () => {
    await system?.stop();
  });

  for (const [name, transport] of [
    ["gRPC-Web over HTTP/1.1", () => createGrpcWebTransport({ baseUrl: system.url, httpVersion: "1.1" })],
    [
      "Connect binary over HTTP/2",
      () => createConnectTransport({ baseUrl: system.url, httpVersion: "2", useBinaryFormat: true }),
    ],
  ] as const) {
    it(`logs in and calls GetMe with ${name}`, async () => {
      const auth = createClient(AuthService, transport());
      const profile = createClient(ProfileService, transport());
      const phone = uniquePhone();
      const sent = await auth.sendOtp({ phone, role: Role.CUSTOMER });
      const verified = await auth.verifyOtp({ phone, otp: sent.devOtp, role: Role.CUSTOMER });
      const me = await profile.getMe({}, { headers: { authorization: `Bearer ${verified.tokens!.accessToken}` } });
      assert.equal(me.user?.phone, `+91${phone}`);
      await assert.rejects(
        profile.getMe({}),
        (error: unknown) => error instanceof ConnectError && error.code === Code.Unauthenticated,
      );
    });
  }

  it("refuses an OTP after it expires", async () => {
    const phone = uniquePhone();
    const sent = await system.rest("POST", "/api/v1/auth/send-otp", { phone, role: "customer" });
    await new Promise((resolve) => setTimeout(resolve, 1300));
    const late = await system.rest("POST", "/api/v1/auth/verify-otp", {
      phone,
      otp: sent.body.data.devOtp,
      role: "customer",
    });
    assert.equal(late.status, 401);
    assert.equal(late.body.error.code, "OTP_EXPIRED");
  });
});

describe("readiness with a dependency down", () => {
  let system: TestSystem;
  before(async () => {
    // Nothing listens on port 9: the cache server is "down" from the start.
    system = await startTestSystem({ REDIS_URL: "redis://127.0.0.1:9", HEALTH_WATCH_INTERVAL_MS: "100" });
  });
  after(async () => {
    await system?.stop();
  });

  it("answers 503 naming the cache, while liveness stays 200", async () => {
    assert.equal((await fetch(`${system.url}/health/ready`)).status, 503);
    const ready = await fetch(`${system.adminUrl}/health/ready`);
    assert.equal(ready.status, 503);
    const body = (await ready.json()) as { failing: string[] };
    assert.ok(body.failing.includes("cache (redis)"), JSON.stringify(body));
    assert.equal((await fetch(`${system.url}/health`)).status, 200);
    const detailed = (await (await fetch(`${system.adminUrl}/health/detailed`)).json()) as {
      checks: { name: string; ok: boolean; error?: string }[];
    };
    const cache = detailed.checks.find((c) => c.name === "cache (redis)");
    assert.equal(cache?.ok, false);
    assert.ok(cache?.error);
  });

  it("turns the services' gRPC health NOT_SERVING while a critical dependency fails", async () => {
    await until("identity reports NOT_SERVING", async () => {
      const body = (await (await fetch(`${system.adminUrl}/health/detailed`)).json()) as {
        checks: { name: string; ok: boolean; error?: string }[];
      };
      return body.checks.some(
        (check) => check.name.startsWith("upstream") && !check.ok && /NOT_SERVING/.test(check.error ?? ""),
      );
    });
  });

  it("fails a login that needs the cache with 503, not a hang or a stack trace", async () => {
    const started = Date.now();
    const sent = await system.rest("POST", "/api/v1/auth/send-otp", { phone: uniquePhone(), role: "customer" });
    assert.ok(Date.now() - started < 8000, "answers within the deadline");
    assert.equal(sent.status, 503);
    assert.equal(sent.body.error.code, "CACHE_UNAVAILABLE");
    assert.equal(sent.body.success, false);
    assert.ok(!JSON.stringify(sent.body).includes("    at "), "no stack trace");
  });
});

describe("readiness with an upstream down", () => {
  let system: TestSystem;
  before(async () => {
    // Nothing listens on port 9: booking is "down" for the gateway (and dispatch) from the start.
    system = await startTestSystem({ BOOKING_GRPC_URL: "127.0.0.1:9" });
  });
  after(async () => {
    await system?.stop();
  });

  it("stays ready: the upstream is reported, non-critical, on the admin port only", async () => {
    const ready = await fetch(`${system.url}/health/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: "ready" });
    const admin = await fetch(`${system.adminUrl}/health/ready`);
    assert.equal(admin.status, 200);
    const detailed = (await (await fetch(`${system.adminUrl}/health/detailed`)).json()) as {
      status: string;
      checks: { name: string; ok: boolean; critical: boolean }[];
    };
    assert.equal(detailed.status, "ready");
    const booking = detailed.checks.find((c) => c.name === "upstream 127.0.0.1:9");
    assert.ok(booking, JSON.stringify(detailed.checks.map((c) => c.name)));
    assert.equal(booking.ok, false);
    assert.equal(booking.critical, false);
    assert.ok(
      detailed.checks.filter((c) => c.critical).every((c) => c.ok),
      "the gateway's own dependencies answer",
    );
  });

  it("answers that upstream's routes UNAVAILABLE (503 on REST) while the others work", async () => {
    const { accessToken } = await system.login("customer");
    const me = await system.connect(
      "/weelo.identity.v1.ProfileService/GetMe",
      {},
      { authorization: `Bearer ${accessToken}` },
    );
    assert.equal(me.status, 200, JSON.stringify(me.body));
    const started = Date.now();
    const bookings = await system.rest("GET", "/api/v1/bookings", undefined, {
      authorization: `Bearer ${accessToken}`,
    });
    assert.ok(Date.now() - started < 8000, "answers within the deadline");
    assert.equal(bookings.status, 503, JSON.stringify(bookings.body));
    assert.equal(bookings.body.success, false);
    const connect = await system.connect(
      "/weelo.booking.v1.BookingService/ListBookings",
      {},
      { authorization: `Bearer ${accessToken}` },
    );
    assert.equal(connect.status, 503, JSON.stringify(connect.body));
    assert.equal(connect.body.code, "unavailable");
  });
});
