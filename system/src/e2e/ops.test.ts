/**
 * The operations console's API through the gateway, with the real services: an ops login from
 * an allow-listed phone (any other phone refused at SendOtp, before any code is sent), OpsService
 * refused to every other role, identity's accounts found by phone, a block that revokes the
 * user's session at once (their next call is Unauthenticated) audited SUCCEEDED with the account
 * before and after, and a refused intervention audited FAILED with the owner's error.
 * The interventions whose owners are built elsewhere (cancel, reopen, reassign, the funnel,
 * offers, path) are tested against fake owners in services/ops.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { capturingLogger } from "@weelo/testing";
import { bearer, startTestSystem, uniquePhone, type TestSystem } from "./test-support.js";

const OPS = "/weelo.ops.v1.OpsService";
const reasonOf = (body: any): string | undefined =>
  body?.details?.find((d: { type: string }) => d.type === "google.rpc.ErrorInfo")?.debug?.reason;

describe("the ops console's API through the gateway", () => {
  let system: TestSystem;
  const opsPhone = `+91${uniquePhone()}`;
  const { logger, lines } = capturingLogger("ops-e2e");
  let ops: { accessToken: string; userId: string };

  before(async () => {
    system = await startTestSystem(
      {
        OPS_PHONES: `${opsPhone}, ${uniquePhone()}`,
        OTP_RESEND_COOLDOWN_S: "0",
        // A loaded test machine may take a while over a first TLS handshake.
        OPS_HEALTH_TIMEOUT_MS: "5000",
      },
      { logger },
    );
    const sent = await system.connect("/weelo.identity.v1.AuthService/SendOtp", { phone: opsPhone, role: "ROLE_OPS" });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    const verified = await system.connect("/weelo.identity.v1.AuthService/VerifyOtp", {
      phone: opsPhone,
      otp: sent.body.devOtp,
      role: "ROLE_OPS",
    });
    assert.equal(verified.status, 200, JSON.stringify(verified.body));
    assert.equal(verified.body.user.role, "ROLE_OPS");
    ops = { accessToken: verified.body.tokens.accessToken, userId: verified.body.user.id };
  });
  after(async () => {
    await system?.stop();
  });

  const call = (method: string, body: unknown, token = ops.accessToken) =>
    system.connect(`${OPS}/${method}`, body, bearer(token));

  it("refuses a phone not on OPS_PHONES at SendOtp, without sending a code", async () => {
    const phone = uniquePhone();
    const sentBefore = lines.filter((l) => l.msg === "otp sent").length;
    const refused = await system.connect("/weelo.identity.v1.AuthService/SendOtp", { phone, role: "ROLE_OPS" });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.code, "permission_denied");
    assert.equal(reasonOf(refused.body), "OPS_PHONE_NOT_ALLOWED");
    assert.equal(refused.body.devOtp, undefined);
    assert.equal(lines.filter((l) => l.msg === "otp sent").length, sentBefore, "no OTP was sent");
    // The same phone logs in as a customer as before: the allow-list is about role ops only.
    assert.ok((await system.login("customer", phone)).accessToken);
  });

  it("refuses OpsService to every other role, and without a token", async () => {
    for (const role of ["customer", "transporter"] as const) {
      const other = await system.login(role);
      const refused = await call("GetServiceHealth", {}, other.accessToken);
      assert.equal(refused.status, 403, `${role}: ${JSON.stringify(refused.body)}`);
      assert.equal(reasonOf(refused.body), "OPS_ROLE_REQUIRED");
    }
    const anonymous = await system.connect(`${OPS}/GetServiceHealth`, {});
    assert.equal(anonymous.status, 401);
  });

  it("lists every service SERVING, reached over the mesh", async () => {
    const health = await call("GetServiceHealth", {});
    assert.equal(health.status, 200, JSON.stringify(health.body));
    const byName = Object.fromEntries(
      health.body.services.map((s: { name: string; status: string }) => [s.name, s.status]),
    );
    assert.deepEqual(Object.keys(byName).sort(), [
      "booking",
      "dispatch",
      "fleet",
      "identity",
      "notification",
      "ops",
      "pricing",
      "tracking",
    ]);
    for (const service of health.body.services)
      assert.equal(service.status, "SERVICE_STATUS_SERVING", `${service.name}: ${service.detail}`);
  });

  it("blocks a user: their session ends at once, and the audit shows the account before and after", async () => {
    const customer = await system.login("customer");
    const me = () => system.connect("/weelo.identity.v1.ProfileService/GetMe", {}, bearer(customer.accessToken));
    assert.equal((await me()).status, 200);

    const found = await call("FindUsers", { phone: customer.phone });
    assert.equal(found.status, 200, JSON.stringify(found.body));
    assert.deepEqual(
      found.body.users.map((u: { userId: string; role: string }) => [u.userId, u.role]),
      [[customer.user.id, "ROLE_CUSTOMER"]],
    );

    const key = randomUUID();
    const blocked = await call("BlockUser", { userId: customer.user.id, reason: "fraud report", idempotencyKey: key });
    assert.equal(blocked.status, 200, JSON.stringify(blocked.body));
    assert.equal(blocked.body.sessionsRevoked, 1);
    assert.ok(blocked.body.user.blockedAt);
    const next = await me();
    assert.equal(next.status, 401, "the blocked user's next call is refused");
    assert.equal(reasonOf(next.body), "SESSION_REVOKED");

    // The client's retry of the same call: answered from the entry, no second one.
    const replay = await call("BlockUser", { userId: customer.user.id, reason: "fraud report", idempotencyKey: key });
    assert.equal(replay.body.auditId, blocked.body.auditId);

    const audit = await call("ListAuditEntries", { targetId: customer.user.id });
    assert.equal(audit.status, 200, JSON.stringify(audit.body));
    assert.equal(audit.body.entries.length, 1);
    const [entry] = audit.body.entries;
    assert.equal(entry.id, blocked.body.auditId);
    assert.equal(entry.action, "AUDIT_ACTION_BLOCK_USER");
    assert.equal(entry.outcome, "AUDIT_OUTCOME_SUCCEEDED");
    assert.equal(entry.actorUserId, ops.userId);
    assert.equal(entry.actorPhone, opsPhone);
    assert.equal(entry.reason, "fraud report");
    assert.equal(JSON.parse(entry.beforeJson).blockedAt, undefined);
    assert.equal(JSON.parse(entry.beforeJson).userId, customer.user.id);
    assert.ok(JSON.parse(entry.afterJson).blockedAt);
    assert.ok(entry.completedAt);

    const unblocked = await call("UnblockUser", { userId: customer.user.id, reason: "cleared by support" });
    assert.equal(unblocked.body.unblocked, true);
    assert.ok((await system.login("customer", customer.phone)).accessToken, "an unblocked account logs in again");
  });

  it("records a refused intervention FAILED and passes the owner's error on", async () => {
    const nobody = randomUUID();
    const refused = await call("BlockUser", { userId: nobody, reason: "no such account" });
    assert.equal(refused.status, 404, JSON.stringify(refused.body));
    assert.equal(reasonOf(refused.body), "USER_NOT_FOUND");
    const audit = await call("ListAuditEntries", { targetId: nobody });
    const [entry] = audit.body.entries;
    assert.equal(entry.outcome, "AUDIT_OUTCOME_FAILED");
    assert.match(entry.error, /USER_NOT_FOUND/);
    assert.equal(entry.afterJson ?? "", "");
    const mine = await call("ListAuditEntries", { actorUserId: ops.userId });
    assert.ok(mine.body.entries.some((e: { id: string }) => e.id === entry.id));
  });
});
