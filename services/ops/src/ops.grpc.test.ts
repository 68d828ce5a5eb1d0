/**
 * The ops service alone over gRPC, against fake identity, booking, dispatch and tracking on the
 * mesh (played by the test over mutual TLS, as the real ones): the role check, interventions
 * audited PENDING → SUCCEEDED or FAILED with the owner's error passed on unchanged, replays of a
 * retry key acting once, the board resolving a phone, the detail surviving an owner down, the
 * funnel merged per hour and every service's health. The real owners run in system/src/e2e/ops.test.ts.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { v7 as uuidv7 } from "uuid";
import { TokenIssuer, type Role as RoleWord } from "@weelo/auth";
import { Booking, BookingStatus } from "@weelo/contracts/grpc/weelo/booking/v1/booking";
import { BookingOpsServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_ops_service";
import { Role } from "@weelo/contracts/grpc/weelo/common/v1/common";
import { DispatchOpsServiceService } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch_ops_service";
import {
  type Account,
  AccountAdminServiceService,
} from "@weelo/contracts/grpc/weelo/identity/v1/account_admin_service";
import { User } from "@weelo/contracts/grpc/weelo/identity/v1/identity";
import { AuditAction, AuditOutcome, ServiceStatus } from "@weelo/contracts/grpc/weelo/ops/v1/ops";
import { OpsServiceService } from "@weelo/contracts/grpc/weelo/ops/v1/ops_service";
import { FailedPreconditionError, GrpcCode, NotFoundError } from "@weelo/errors";
import { createClient, EPHEMERAL_LOOPBACK, type CallOptions, type ServiceClient } from "@weelo/grpc";
import { createPlatform, type Platform } from "@weelo/runtime";
import { failure, isolatedTestEnvironment } from "@weelo/testing";
import { fakeService, startFakeUpstream, type FakeUpstream } from "@weelo/testing/fake-upstream";
import { loadOpsConfig } from "./ops.config.js";
import { startOps } from "./ops.module.js";

const OPS_PHONE = "+919000000011";

describe("ops service alone: role, audited interventions, board, detail, funnel, health", () => {
  let platform: Platform;
  let cleanup: () => Promise<void>;
  let ops: ServiceClient<typeof OpsServiceService>;
  let issuer: TokenIssuer;
  const fakes: Record<string, FakeUpstream> = {};
  let opsUser: { id: string; auth: CallOptions };

  /** The fake owners' state. */
  const accounts = new Map<string, Account>();
  const bookings = new Map<string, Booking>();
  const ownerCalls: string[] = [];
  let searched: { customerIds: string[] } | undefined;

  const account = (role: Role, phone: string, name = ""): Account => {
    const user = User.fromPartial({ id: uuidv7(), phone, role, name });
    const made = { user, blockedAt: undefined };
    accounts.set(user.id, made);
    return made;
  };
  const booking = (status: BookingStatus, customerId: string): Booking => {
    const made = Booking.fromPartial({ id: uuidv7(), orderId: uuidv7(), customerId, status });
    bookings.set(made.id, made);
    return made;
  };
  const bookingOf = (bookingId: string) => {
    const found = bookings.get(bookingId);
    if (!found) throw new NotFoundError("no such booking", { reason: "BOOKING_NOT_FOUND" });
    return found;
  };

  before(async () => {
    const isolated = await isolatedTestEnvironment();
    const unreachable = "127.0.0.1:1";
    const env = {
      ...isolated.env,
      IDENTITY_GRPC_URL: unreachable,
      BOOKING_GRPC_URL: unreachable,
      DISPATCH_GRPC_URL: unreachable,
      TRACKING_GRPC_URL: unreachable,
      FLEET_GRPC_URL: unreachable,
      PRICING_GRPC_URL: unreachable,
      NOTIFICATION_GRPC_URL: unreachable,
      // Generous: a loaded machine may take a while over the first TLS handshake.
      OPS_HEALTH_TIMEOUT_MS: "3000",
    };
    let config = loadOpsConfig(env);
    platform = await createPlatform(config, { name: "ops-alone-test" });
    const mesh = { mesh: platform.mesh };
    fakes.identity = await startFakeUpstream(
      [
        fakeService(AccountAdminServiceService, {
          getAccounts: ({ userIds }) => ({ accounts: userIds.flatMap((id) => accounts.get(id) ?? []) }),
          findAccountsByPhone: ({ phone }) => ({
            accounts: [...accounts.values()].filter((a) => a.user?.phone === phone),
          }),
          blockUser: ({ userId }) => {
            ownerCalls.push(`block ${userId}`);
            const found = accounts.get(userId);
            if (!found) throw new NotFoundError("no such user", { reason: "USER_NOT_FOUND" });
            const fresh = !found.blockedAt;
            found.blockedAt ??= new Date();
            return { userId, blockedAt: found.blockedAt, sessionsRevoked: fresh ? 2 : 0 };
          },
          unblockUser: ({ userId }) => {
            const found = accounts.get(userId)!;
            const unblocked = Boolean(found.blockedAt);
            found.blockedAt = undefined;
            return { userId, unblocked };
          },
        }),
      ],
      mesh,
    );
    fakes.booking = await startFakeUpstream(
      [
        fakeService(BookingOpsServiceService, {
          getBookingHistory: ({ bookingId }) => ({ booking: bookingOf(bookingId), history: [], driverUserId: "" }),
          cancelBookingByOps: ({ bookingId }) => {
            ownerCalls.push(`cancel ${bookingId}`);
            const found = bookingOf(bookingId);
            if (found.status === BookingStatus.BOOKING_STATUS_COMPLETED)
              throw new FailedPreconditionError("a completed booking cannot be cancelled", {
                reason: "ILLEGAL_STATUS_TRANSITION",
              });
            const previousStatus = found.status;
            found.status = BookingStatus.BOOKING_STATUS_CANCELLED;
            return { booking: found, previousStatus };
          },
          searchAllBookings: (request) => {
            searched = request;
            return {
              bookings: [...bookings.values()].filter((b) => request.customerIds.includes(b.customerId)),
              page: { nextPageToken: "" },
            };
          },
          getBookingFunnel: ({ from }) => ({
            hours: [
              {
                hourStart: from,
                ordersCreated: 1,
                bookingsCreated: 2,
                assigned: 1,
                completed: 0,
                expired: 0,
                cancelled: 1,
              },
            ],
          }),
        }),
      ],
      mesh,
    );
    fakes.dispatch = await startFakeUpstream(
      [
        fakeService(DispatchOpsServiceService, {
          listBookingOffers: () => ({ offers: [] }),
          reopenBookingByOps: ({ bookingId }) => {
            ownerCalls.push(`reopen ${bookingId}`);
            const found = bookingOf(bookingId);
            const reopened = found.status !== BookingStatus.BOOKING_STATUS_PENDING;
            found.status = BookingStatus.BOOKING_STATUS_PENDING;
            return { bookingId, previousTransporterId: "", previousDriverId: "", reopened };
          },
          getDispatchFunnel: ({ from }) => ({
            hours: [{ hourStart: from, waves: 3, offers: 9, accepted: 1, offersExpired: 8 }],
          }),
        }),
      ],
      mesh,
    );
    // Tracking is down: the detail page is shown without the path.
    config = Object.freeze({
      ...config,
      IDENTITY_GRPC_URL: fakes.identity.address,
      BOOKING_GRPC_URL: fakes.booking.address,
      DISPATCH_GRPC_URL: fakes.dispatch.address,
    });
    await startOps(platform, config);
    const { publicPort } = await platform.grpc.listen(EPHEMERAL_LOOPBACK);
    ops = createClient(OpsServiceService, `127.0.0.1:${publicPort}`, { deadlineMs: 10_000 });
    issuer = new TokenIssuer(platform.keys);
    opsUser = await login("ops", account(Role.ROLE_OPS, OPS_PHONE).user!.id);
    cleanup = async () => {
      for (const fake of Object.values(fakes)) await fake.stop();
      await platform.shutdown();
      await isolated.cleanup(["ops"]);
    };
  });

  after(async () => {
    ops?.close();
    await cleanup?.();
  });

  async function login(role: RoleWord, userId = uuidv7()) {
    const { token } = await issuer.issueAccessToken({ userId, role, sessionId: uuidv7() });
    return { id: userId, auth: { metadata: { authorization: `Bearer ${token}` } } };
  }

  const auditOf = async (targetId: string) =>
    (await ops.listAuditEntries({ targetId, actorUserId: "", page: undefined }, opsUser.auth)).entries;

  it("admits role ops only: other roles PERMISSION_DENIED (OPS_ROLE_REQUIRED), no token UNAUTHENTICATED", async () => {
    for (const role of ["customer", "transporter", "driver"] as const) {
      const refused = await failure(ops.getServiceHealth({}, (await login(role)).auth));
      assert.equal(refused.code, GrpcCode.PERMISSION_DENIED);
      assert.equal(refused.reason, "OPS_ROLE_REQUIRED");
    }
    const customer = await login("customer");
    const cancel = await failure(
      ops.cancelBooking({ bookingId: uuidv7(), reason: "x", idempotencyKey: "" }, customer.auth),
    );
    assert.equal(cancel.reason, "OPS_ROLE_REQUIRED");
    assert.equal((await failure(ops.findUsers({ phone: OPS_PHONE }))).code, GrpcCode.UNAUTHENTICATED);
  });

  it("cancels through booking, audited PENDING then SUCCEEDED with the booking before and after", async () => {
    const customer = account(Role.ROLE_CUSTOMER, "+919000000012");
    const target = booking(BookingStatus.BOOKING_STATUS_CONFIRMED, customer.user!.id);
    const answer = await ops.cancelBooking(
      { bookingId: target.id, reason: " customer called ", idempotencyKey: "" },
      opsUser.auth,
    );
    assert.equal(answer.booking?.status, BookingStatus.BOOKING_STATUS_CANCELLED);
    const [entry] = await auditOf(target.id);
    assert.equal(entry?.id, answer.auditId);
    assert.equal(entry?.action, AuditAction.AUDIT_ACTION_CANCEL_BOOKING);
    assert.equal(entry?.outcome, AuditOutcome.AUDIT_OUTCOME_SUCCEEDED);
    assert.equal(entry?.actorUserId, opsUser.id);
    assert.equal(entry?.actorPhone, OPS_PHONE);
    assert.equal(entry?.reason, "customer called");
    assert.equal(JSON.parse(entry!.beforeJson).status, "BOOKING_STATUS_CONFIRMED");
    assert.equal(JSON.parse(entry!.afterJson).status, "BOOKING_STATUS_CANCELLED");
    assert.ok(entry?.completedAt && entry.createdAt && entry.completedAt >= entry.createdAt);
  });

  it("passes the owner's refusal on unchanged and records it FAILED with its error", async () => {
    const target = booking(BookingStatus.BOOKING_STATUS_COMPLETED, uuidv7());
    const refused = await failure(
      ops.cancelBooking({ bookingId: target.id, reason: "too late", idempotencyKey: "" }, opsUser.auth),
    );
    assert.equal(refused.code, GrpcCode.FAILED_PRECONDITION);
    assert.equal(refused.reason, "ILLEGAL_STATUS_TRANSITION");
    assert.equal(refused.message, "a completed booking cannot be cancelled");
    const [entry] = await auditOf(target.id);
    assert.equal(entry?.outcome, AuditOutcome.AUDIT_OUTCOME_FAILED);
    assert.equal(entry?.error, "ILLEGAL_STATUS_TRANSITION: a completed booking cannot be cancelled");
    assert.equal(entry?.afterJson, "");
    assert.equal(JSON.parse(entry!.beforeJson).status, "BOOKING_STATUS_COMPLETED");

    // A booking its owner does not know: refused before any action, recorded FAILED too.
    const unknown = uuidv7();
    const missing = await failure(
      ops.reopenBooking({ bookingId: unknown, reason: "stuck", idempotencyKey: "" }, opsUser.auth),
    );
    assert.equal(missing.reason, "BOOKING_NOT_FOUND");
    const [recorded] = await auditOf(unknown);
    assert.equal(recorded?.outcome, AuditOutcome.AUDIT_OUTCOME_FAILED);
    assert.equal(recorded?.beforeJson, "");
  });

  it("acts once for a replayed retry key and refuses the key for another request", async () => {
    const target = booking(BookingStatus.BOOKING_STATUS_ASSIGNED, uuidv7());
    const request = { bookingId: target.id, reason: "driver did not start", idempotencyKey: uuidv7() };
    const first = await ops.reopenBooking(request, opsUser.auth);
    const again = await ops.reopenBooking(request, opsUser.auth);
    assert.equal(again.auditId, first.auditId);
    assert.equal(again.booking?.status, BookingStatus.BOOKING_STATUS_PENDING);
    assert.equal(ownerCalls.filter((c) => c === `reopen ${target.id}`).length, 1);
    assert.equal((await auditOf(target.id)).length, 1);
    const reused = await failure(ops.reopenBooking({ ...request, reason: "another reason" }, opsUser.auth));
    assert.equal(reused.reason, "IDEMPOTENCY_KEY_REUSED");
  });

  it("blocks and unblocks through identity, audited with the account before and after", async () => {
    const driver = account(Role.ROLE_DRIVER, "+919000000013", "Ravi");
    const userId = driver.user!.id;
    const blocked = await ops.blockUser({ userId, reason: "fraud report", idempotencyKey: "" }, opsUser.auth);
    assert.equal(blocked.sessionsRevoked, 2);
    assert.ok(blocked.user?.blockedAt);
    const unblocked = await ops.unblockUser({ userId, reason: "cleared", idempotencyKey: "" }, opsUser.auth);
    assert.equal(unblocked.unblocked, true);
    assert.equal(unblocked.user?.blockedAt, undefined);
    const [unblock, block] = await auditOf(userId);
    assert.equal(block?.action, AuditAction.AUDIT_ACTION_BLOCK_USER);
    assert.equal(JSON.parse(block!.beforeJson).blockedAt, undefined);
    assert.ok(JSON.parse(block!.afterJson).blockedAt);
    assert.equal(unblock?.action, AuditAction.AUDIT_ACTION_UNBLOCK_USER);
    assert.equal(unblock?.outcome, AuditOutcome.AUDIT_OUTCOME_SUCCEEDED);
    const found = await ops.findUsers({ phone: "9000000013" }, opsUser.auth);
    assert.deepEqual(
      found.users.map((u) => [u.userId, u.name, u.role]),
      [[userId, "Ravi", Role.ROLE_DRIVER]],
    );
  });

  it("resolves a phone to its customer account for the board and names each row's customer", async () => {
    const customer = account(Role.ROLE_CUSTOMER, "+919000000014", "Asha");
    account(Role.ROLE_TRANSPORTER, "+919000000014");
    const mine = booking(BookingStatus.BOOKING_STATUS_PENDING, customer.user!.id);
    const page = await ops.searchBookings(
      { statuses: [], city: "", customerPhone: "09000000014", bookingId: "", page: undefined },
      opsUser.auth,
    );
    assert.deepEqual(searched?.customerIds, [customer.user!.id]);
    assert.deepEqual(
      page.bookings.map((r) => [r.booking?.id, r.customerPhone, r.customerName]),
      [[mine.id, "+919000000014", "Asha"]],
    );
    const nobody = await ops.searchBookings(
      { statuses: [], city: "", customerPhone: "9000000015", bookingId: "", page: undefined },
      opsUser.auth,
    );
    assert.deepEqual(nobody.bookings, []);
  });

  it("shows a booking's detail without the parts whose owner is down", async () => {
    const customer = account(Role.ROLE_CUSTOMER, "+919000000016", "Meera");
    const target = booking(BookingStatus.BOOKING_STATUS_PENDING, customer.user!.id);
    const detail = await ops.getBookingDetail({ bookingId: target.id }, opsUser.auth);
    assert.equal(detail.row?.booking?.id, target.id);
    assert.equal(detail.row?.customerName, "Meera");
    assert.deepEqual(detail.unavailable, ["path"]);
    assert.deepEqual(detail.path, []);
    const gone = await failure(ops.getBookingDetail({ bookingId: uuidv7() }, opsUser.auth));
    assert.equal(gone.reason, "BOOKING_NOT_FOUND");
  });

  it("merges the funnel per hour over the default 24 hours and refuses more than 7 days", async () => {
    const { hours } = await ops.getFunnel({}, opsUser.auth);
    assert.equal(hours.length, 24);
    assert.deepEqual(
      { orders: hours[0]!.orders, bookings: hours[0]!.bookings, waves: hours[0]!.waves, offers: hours[0]!.offers },
      { orders: 1, bookings: 2, waves: 3, offers: 9 },
    );
    assert.equal(hours[1]!.offers, 0);
    const tooLong = await failure(
      ops.getFunnel({ from: new Date("2026-11-01T00:00:00Z"), to: new Date("2026-11-09T00:00:00Z") }, opsUser.auth),
    );
    assert.equal(tooLong.code, GrpcCode.INVALID_ARGUMENT);
  });

  it("lists every service's health: unreachable ones, fakes without health, and itself", async () => {
    const { services } = await ops.getServiceHealth({}, opsUser.auth);
    const status = Object.fromEntries(services.map((s) => [s.name, s.status]));
    assert.deepEqual(Object.keys(status), [
      "identity",
      "fleet",
      "pricing",
      "booking",
      "dispatch",
      "tracking",
      "notification",
      "ops",
    ]);
    assert.equal(status.fleet, ServiceStatus.SERVICE_STATUS_UNREACHABLE);
    assert.equal(status.tracking, ServiceStatus.SERVICE_STATUS_UNREACHABLE);
    // The fakes serve no grpc.health.v1: answered, but not SERVING.
    assert.equal(status.booking, ServiceStatus.SERVICE_STATUS_NOT_SERVING);
    assert.equal(status.ops, ServiceStatus.SERVICE_STATUS_SERVING);
  });
});
