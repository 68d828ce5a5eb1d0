/**
 * The OTP login → authenticated call → refresh → reuse detection → logout flow, through the
 * gateway over HTTP/JSON (REST aliases and Connect paths) and over gRPC, with the failures a
 * real client meets: bad phone, wrong OTP, brute force, missing, forged and revoked tokens.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import * as jose from "jose";
import { Role } from "@weelo/contracts/grpc/weelo/common/v1/common";
import { AuthServiceClient } from "@weelo/contracts/grpc/weelo/identity/v1/auth_service";
import { ProfileServiceClient } from "@weelo/contracts/grpc/weelo/identity/v1/profile_service";
import { startTestSystem, uniquePhone, type TestSystem } from "./test-support.js";

const GET_ME = "/weelo.identity.v1.ProfileService/GetMe";
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("identity through the gateway", () => {
  let system: TestSystem;
  before(async () => {
    system = await startTestSystem({ OTP_RESEND_COOLDOWN_S: "0", OTP_PER_PHONE_PER_HOUR: "3" });
  });
  after(async () => {
    await system?.stop();
  });

  it("logs in with the documented REST bodies, calls GetMe, refreshes, detects reuse and logs out", async () => {
    const phone = uniquePhone();
    const sent = await system.rest("POST", "/api/v1/auth/send-otp", { phone, role: "customer" });
    assert.equal(sent.status, 200);
    assert.equal(sent.body.success, true);
    assert.match(sent.body.data.devOtp, /^\d{6}$/);
    assert.ok(Date.parse(sent.body.data.expiresAt) > Date.now() + 4 * 60_000);

    const verified = await system.rest("POST", "/api/v1/auth/verify-otp", {
      phone,
      otp: sent.body.data.devOtp,
      role: "customer",
    });
    assert.equal(verified.status, 200);
    const { tokens, user, isNewUser } = verified.body.data;
    assert.equal(isNewUser, true);
    assert.equal(user.phone, `+91${phone}`);
    assert.equal(user.role, "ROLE_CUSTOMER");
    assert.match(tokens.accessToken, /^eyJ/);
    assert.equal(tokens.tokenType, "Bearer");
    const accessLifetime = Date.parse(tokens.accessTokenExpiresAt) - Date.now();
    assert.ok(accessLifetime > 14 * 60_000 && accessLifetime <= 15 * 60_000, "access token lives 15 minutes");
    const refreshLifetime = Date.parse(tokens.refreshTokenExpiresAt) - Date.now();
    assert.ok(refreshLifetime > 6.9 * 86_400_000 && refreshLifetime <= 7 * 86_400_000, "refresh token lives 7 days");

    const me = await system.connect(GET_ME, {}, bearer(tokens.accessToken));
    assert.equal(me.status, 200);
    assert.equal(me.body.user.id, user.id);

    const refreshed = await system.rest("POST", "/api/v1/auth/refresh", { refreshToken: tokens.refreshToken });
    assert.equal(refreshed.status, 200);
    const rotated = refreshed.body.data.tokens;
    assert.notEqual(rotated.refreshToken, tokens.refreshToken);
    assert.equal((await system.connect(GET_ME, {}, bearer(rotated.accessToken))).status, 200);

    // The spent refresh token comes back: someone copied it. The whole session ends.
    const reused = await system.rest("POST", "/api/v1/auth/refresh", { refreshToken: tokens.refreshToken });
    assert.equal(reused.status, 401);
    assert.deepEqual(reused.body.success, false);
    assert.equal(reused.body.error.code, "REFRESH_TOKEN_REUSED");
    assert.equal(
      (await system.rest("POST", "/api/v1/auth/refresh", { refreshToken: rotated.refreshToken })).status,
      401,
    );
    const afterReuse = await system.connect(GET_ME, {}, bearer(rotated.accessToken));
    assert.equal(afterReuse.status, 401, "access tokens of a revoked session stop working");
    assert.equal(afterReuse.body.code, "unauthenticated");

    // A second login is a new session; logout ends it and its access token.
    const again = await system.login();
    const logout = await system.rest("POST", "/api/v1/auth/logout", {}, bearer(again.accessToken));
    assert.equal(logout.status, 200);
    assert.equal(logout.body.success, true);
    assert.equal((await system.connect(GET_ME, {}, bearer(again.accessToken))).status, 401);
    assert.equal((await system.rest("POST", "/api/v1/auth/refresh", { refreshToken: again.refreshToken })).status, 401);
  });

  it("serves the same flow on the Connect paths, with the second login finding the account", async () => {
    const phone = `+91${uniquePhone()}`;
    const login = async () => {
      const sent = await system.connect("/weelo.identity.v1.AuthService/SendOtp", { phone, role: "ROLE_TRANSPORTER" });
      assert.equal(sent.status, 200);
      const verified = await system.connect("/weelo.identity.v1.AuthService/VerifyOtp", {
        phone,
        otp: sent.body.devOtp,
        role: "ROLE_TRANSPORTER",
      });
      assert.equal(verified.status, 200);
      return verified.body;
    };
    const first = await login();
    const second = await login();
    assert.equal(first.isNewUser, true);
    assert.equal(second.isNewUser ?? false, false);
    assert.equal(second.user.id, first.user.id);

    const update = await system.connect(
      "/weelo.identity.v1.ProfileService/UpdateProfile",
      { name: "  Sharma   Roadways ", companyName: "Sharma Roadways Pvt Ltd", gstin: "27aapfu0939f1zv" },
      bearer(second.tokens.accessToken),
    );
    assert.equal(update.status, 200);
    assert.equal(update.body.user.name, "Sharma Roadways");
    assert.equal(update.body.user.gstin, "27AAPFU0939F1ZV");
    const me = await system.connect(GET_ME, {}, bearer(second.tokens.accessToken));
    assert.equal(me.body.user.name, "Sharma Roadways", "a profile read after a change shows the change");

    const badGstin = await system.connect(
      "/weelo.identity.v1.ProfileService/UpdateProfile",
      { gstin: "27AAPFU0939F1ZX" },
      bearer(second.tokens.accessToken),
    );
    assert.equal(badGstin.status, 400);
    assert.equal(badGstin.body.code, "invalid_argument");
    assert.match(badGstin.body.message, /gstin/);
    const info = badGstin.body.details?.find((d: { type: string }) => d.type === "google.rpc.ErrorInfo");
    assert.ok(info, "Connect errors carry a google.rpc.ErrorInfo");
    assert.deepEqual(info.debug, { reason: "GSTIN_INVALID", domain: "weelo.app" });
    const badRequest = badGstin.body.details?.find((d: { type: string }) => d.type === "google.rpc.BadRequest");
    assert.equal(badRequest?.debug.fieldViolations[0].field, "gstin", "and a google.rpc.BadRequest naming the field");
  });

  it("keeps company fields to transporters and manages push devices", async () => {
    const customer = await system.login("customer");
    const refused = await system.connect(
      "/weelo.identity.v1.ProfileService/UpdateProfile",
      { companyName: "X" },
      bearer(customer.accessToken),
    );
    assert.equal(refused.status, 403);

    const pushToken = `fcm-${"a".repeat(40)}`;
    const registered = await system.connect(
      "/weelo.identity.v1.ProfileService/RegisterDevice",
      { pushToken, platform: "DEVICE_PLATFORM_ANDROID" },
      bearer(customer.accessToken),
    );
    assert.equal(registered.status, 200);
    assert.equal(registered.body.device.platform, "DEVICE_PLATFORM_ANDROID");
    const removed = await system.connect(
      "/weelo.identity.v1.ProfileService/UnregisterDevice",
      { pushToken },
      bearer(customer.accessToken),
    );
    assert.deepEqual(removed.body, { removed: true });
    const removedAgain = await system.connect(
      "/weelo.identity.v1.ProfileService/UnregisterDevice",
      { pushToken },
      bearer(customer.accessToken),
    );
    assert.deepEqual(removedAgain.body, {});
  });

  it("refuses bad phones, wrong OTPs and brute force with clear errors", async () => {
    const badPhone = await system.rest("POST", "/api/v1/auth/send-otp", { phone: "12345", role: "customer" });
    assert.equal(badPhone.status, 400);
    assert.deepEqual(badPhone.body, {
      success: false,
      error: {
        code: "PHONE_INVALID",
        message: "phone must be an Indian mobile number like 9876543210 or +919876543210",
        field: "phone",
        violations: [
          {
            field: "phone",
            description: "phone must be an Indian mobile number like 9876543210 or +919876543210",
            reason: "PHONE_INVALID",
          },
        ],
      },
    });
    const badRole = await system.rest("POST", "/api/v1/auth/send-otp", { phone: uniquePhone(), role: "admin" });
    assert.equal(badRole.status, 400);

    const phone = uniquePhone();
    const sent = await system.rest("POST", "/api/v1/auth/send-otp", { phone, role: "customer" });
    const right = sent.body.data.devOtp as string;
    const wrong = right === "000000" ? "111111" : "000000";
    for (let attempt = 1; attempt <= 5; attempt++) {
      const refused = await system.rest("POST", "/api/v1/auth/verify-otp", { phone, otp: wrong, role: "customer" });
      assert.equal(refused.status, 401);
      assert.equal(refused.body.error.code, attempt < 5 ? "OTP_INVALID" : "OTP_ATTEMPTS_EXCEEDED");
    }
    const burned = await system.rest("POST", "/api/v1/auth/verify-otp", { phone, otp: right, role: "customer" });
    assert.equal(burned.status, 401);
    assert.equal(burned.body.error.code, "OTP_EXPIRED", "after five wrong tries even the right code is refused");

    const malformed = await system.rest("POST", "/api/v1/auth/verify-otp", { phone, otp: "12ab", role: "customer" });
    assert.equal(malformed.status, 400);
    assert.deepEqual([malformed.body.error.code, malformed.body.error.field], ["OTP_MALFORMED", "otp"]);
  });

  it("limits OTPs per phone with 429 and Retry-After", async () => {
    const phone = uniquePhone();
    for (let i = 0; i < 3; i++)
      assert.equal((await system.rest("POST", "/api/v1/auth/send-otp", { phone, role: "customer" })).status, 200);
    const limited = await system.rest("POST", "/api/v1/auth/send-otp", { phone, role: "customer" });
    assert.equal(limited.status, 429);
    assert.equal(limited.body.error.code, "RATE_LIMITED");
    assert.ok(Number(limited.headers.get("retry-after")) > 0);
  });

  it("verifies a REST call's token once (the per-user budget and the 401 share it); anonymous and bad-token calls count per address", async (t) => {
    const { accessToken } = await system.login("transporter");
    // The gateway verifies without the revocation check (the services do that one): count only its own verifications.
    const verify = t.mock.method(system.platform.verifier, "verifyAccessToken");
    const byGateway = () => verify.mock.calls.filter((call) => call.arguments[1]?.checkRevocation === false).length;

    const listed = await system.rest("GET", "/api/v1/vehicles", undefined, bearer(accessToken));
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    assert.equal(byGateway(), 1, "admission and the alias verified the token once between them");
    assert.equal(
      listed.headers.get("ratelimit-limit"),
      "600",
      "keyed by the user: the per-user budget is the tighter one",
    );

    const forged = await system.rest("GET", "/api/v1/vehicles", undefined, bearer("not-a-jwt"));
    assert.equal(forged.status, 401);
    assert.equal(forged.body.error.code, "UNAUTHENTICATED");
    assert.equal(byGateway(), 2);
    assert.equal(forged.headers.get("ratelimit-limit"), "6000", "a bad token counts against the address");

    const anonymous = await system.rest("GET", "/api/v1/vehicles");
    assert.equal(anonymous.status, 401);
    assert.equal(byGateway(), 2, "no token, nothing to verify");
    assert.equal(anonymous.headers.get("ratelimit-limit"), "6000", "an anonymous call counts against the address");
  });

  it("refuses missing, malformed, forged and expired tokens", async () => {
    const missing = await system.connect(GET_ME, {});
    assert.equal(missing.status, 401);
    assert.equal((await system.connect(GET_ME, {}, { authorization: "Token abc" })).status, 401);
    assert.equal((await system.connect(GET_ME, {}, bearer("not-a-jwt"))).status, 401);

    const { privateKey } = await jose.generateKeyPair("EdDSA");
    const kid = system.platform.keys.keyId;
    const forge = (expiresIn: string | number) =>
      new jose.SignJWT({ role: "customer", sid: "00000000-0000-7000-8000-000000000000" })
        .setProtectedHeader({ alg: "EdDSA", kid })
        .setIssuer("weelo")
        .setAudience("weelo-api")
        .setSubject("00000000-0000-7000-8000-000000000001")
        .setExpirationTime(expiresIn)
        .sign(privateKey);
    assert.equal((await system.connect(GET_ME, {}, bearer(await forge("15m")))).status, 401, "signed by another key");

    // A token the real key signed, but expired: the services' own keys sign it here.
    const realKey = system.platform.keys.privateKey!;
    const expired = await new jose.SignJWT({ role: "customer", sid: "00000000-0000-7000-8000-000000000000" })
      .setProtectedHeader({ alg: "EdDSA", kid })
      .setIssuer("weelo")
      .setAudience("weelo-api")
      .setSubject("00000000-0000-7000-8000-000000000001")
      .setIssuedAt(Math.floor(Date.now() / 1000) - 16 * 60)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(realKey);
    const expiredCall = await system.connect(GET_ME, {}, bearer(expired));
    assert.equal(expiredCall.status, 401);
    assert.match(expiredCall.body.message, /expired/);

    // Signed by the real key but without an expiry, without an issue time, or issued in the future beyond the clock skew.
    const realToken = (times: { iat?: number; exp?: number }) =>
      new jose.SignJWT({ role: "customer", sid: "00000000-0000-7000-8000-000000000000", ...times })
        .setProtectedHeader({ alg: "EdDSA", kid })
        .setIssuer("weelo")
        .setAudience("weelo-api")
        .setSubject("00000000-0000-7000-8000-000000000001")
        .sign(realKey);
    const now = Math.floor(Date.now() / 1000);
    for (const [what, times] of [
      ["no exp", { iat: now }],
      ["no iat", { exp: now + 600 }],
      ["iat in the future", { iat: now + 120, exp: now + 900 }],
    ] as const) {
      const refused = await system.connect(GET_ME, {}, bearer(await realToken(times)));
      assert.equal(refused.status, 401, what);
      assert.equal(refused.body.code, "unauthenticated", what);
    }
  });

  it("lets exactly one of two concurrent refreshes with the same token win", async () => {
    const session = await system.login();
    const results = await Promise.all(
      [1, 2].map(() => system.rest("POST", "/api/v1/auth/refresh", { refreshToken: session.refreshToken })),
    );
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 401]);
  });

  it("serves gRPC on the gateway port (h2c) with the same behaviour", async () => {
    const address = `127.0.0.1:${system.gatewayPort}`;
    const auth = new AuthServiceClient(address, grpc.credentials.createInsecure());
    const profile = new ProfileServiceClient(address, grpc.credentials.createInsecure());
    try {
      const phone = uniquePhone();
      // Callback-style grpc-js client methods as promises.
      const unary = (fn: (...args: any[]) => unknown, req: unknown, md = new grpc.Metadata()): Promise<any> =>
        new Promise((resolve, reject) =>
          fn(req, md, (e: grpc.ServiceError | null, r: unknown) => (e ? reject(e) : resolve(r))),
        );
      const sent = await unary(auth.sendOtp.bind(auth), { phone, role: Role.ROLE_TRANSPORTER });
      const verified = await unary(auth.verifyOtp.bind(auth), { phone, otp: sent.devOtp, role: Role.ROLE_TRANSPORTER });
      const metadata = new grpc.Metadata();
      metadata.set("authorization", `Bearer ${verified.tokens!.accessToken}`);
      const me = await unary(profile.getMe.bind(profile), {}, metadata);
      assert.equal(me.user!.role, Role.ROLE_TRANSPORTER);
      await assert.rejects(
        unary(profile.getMe.bind(profile), {}),
        (error: grpc.ServiceError) => error.code === grpc.status.UNAUTHENTICATED,
      );
      await assert.rejects(
        unary(auth.sendOtp.bind(auth), { phone: "98765", role: Role.ROLE_CUSTOMER }),
        (error: grpc.ServiceError) =>
          error.code === grpc.status.INVALID_ARGUMENT && /Indian mobile/.test(error.details),
      );
    } finally {
      auth.close();
      profile.close();
    }
  });

  it("answers health, readiness, metrics, JWKS, CORS and request ids", async () => {
    const live = await fetch(`${system.url}/health`);
    assert.equal(live.status, 200);
    const ready = await fetch(`${system.url}/health/ready`);
    assert.equal(ready.status, 200, JSON.stringify(await ready.clone().json()));
    assert.deepEqual(await ready.json(), { status: "ready" }, "the app port names no dependency");
    assert.equal(
      (await fetch(`${system.url}/health/detailed`)).status,
      404,
      "detailed health is on the admin port only",
    );
    assert.equal((await fetch(`${system.url}/metrics`)).status, 404, "metrics are on the admin port only");
    const detailed = (await (await fetch(`${system.adminUrl}/health/detailed`)).json()) as any;
    const names = detailed.checks.map((c: { name: string }) => c.name).join(" ");
    assert.match(names, /database identity/);
    assert.match(names, /cache/);
    assert.match(names, /bus/);
    assert.match(names, /upstream/);
    for (const check of detailed.checks) assert.equal(typeof check.latencyMs, "number");

    const metrics = await (await fetch(`${system.adminUrl}/metrics`)).text();
    assert.match(metrics, /weelo_http_request_duration_seconds_bucket\{.*route="\/api\/v1\/auth\/send-otp"/);
    assert.match(metrics, /weelo_rpc_server_duration_seconds_bucket\{.*method="SendOtp"/);
    assert.match(metrics, /weelo_db_query_duration_seconds/);
    assert.match(metrics, /weelo_cache_lookups_total/);
    assert.match(metrics, /nodejs_eventloop_lag_seconds/);
    assert.match(metrics, /process_resident_memory_bytes/);

    const jwks = (await (await fetch(`${system.url}/.well-known/jwks.json`)).json()) as any;
    assert.equal(jwks.keys[0].kty, "OKP");
    assert.equal(jwks.keys[0].d, undefined, "no private part");

    const preflight = await fetch(`${system.url}${GET_ME}`, {
      method: "OPTIONS",
      headers: {
        origin: "https://app.weelo.in",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type",
      },
    });
    assert.equal(preflight.status, 204);
    assert.match(preflight.headers.get("access-control-allow-headers") ?? "", /authorization/i);

    const traced = await fetch(`${system.url}/health`, { headers: { "x-request-id": "req-abc-123" } });
    assert.equal(traced.headers.get("x-request-id"), "req-abc-123");
    assert.equal(traced.headers.get("x-content-type-options"), "nosniff");

    const tooBig = await system.rest("POST", "/api/v1/auth/send-otp", {
      phone: "9".repeat(2_000_000),
      role: "customer",
    });
    assert.equal(tooBig.status, 413);
    assert.equal((await system.rest("GET", "/api/v1/auth/send-otp")).status, 405);
    assert.equal((await system.rest("GET", "/api/v1/nothing")).status, 404);
  });

  it("stays ready when an upstream stops serving: detailed health shows it failing, non-critical", async () => {
    system.platform.grpc.setServing(false);
    try {
      const ready = await fetch(`${system.url}/health/ready`);
      assert.equal(ready.status, 200, "an upstream is not the gateway's own dependency");
      assert.deepEqual(await ready.json(), { status: "ready" });
      const admin = await fetch(`${system.adminUrl}/health/ready`);
      assert.equal(admin.status, 200);
      assert.deepEqual(
        ((await admin.json()) as { failing: string[] }).failing.filter((name) => !name.startsWith("upstream")),
        [],
        "only upstreams fail",
      );
      const detailed = (await (await fetch(`${system.adminUrl}/health/detailed`)).json()) as {
        status: string;
        checks: { name: string; ok: boolean; critical: boolean; error?: string }[];
      };
      assert.equal(detailed.status, "ready");
      const upstreams = detailed.checks.filter((c) => c.name.startsWith("upstream"));
      assert.ok(upstreams.length > 0);
      for (const check of upstreams) {
        assert.equal(check.ok, false, check.name);
        assert.equal(check.critical, false, check.name);
        assert.match(check.error ?? "", /NOT_SERVING/);
      }
    } finally {
      system.platform.grpc.setServing(true);
    }
    const detailed = (await (await fetch(`${system.adminUrl}/health/detailed`)).json()) as {
      checks: { name: string; ok: boolean }[];
    };
    assert.ok(
      detailed.checks.filter((c) => c.name.startsWith("upstream")).every((c) => c.ok),
      "serving again",
    );
  });
});
