/**
 * Notifications end to end through the gateway: a customer books (REST aliases), booking's
 * events flow through the outbox and JetStream to the notification service, and the
 * customer's inbox (Connect JSON, the way the app calls it) shows each change in the
 * customer's language; MarkRead works on one's own notifications only.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { BookingDispatchServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_dispatch_service";
import type { ServiceClient } from "@weelo/grpc";
import { until } from "@weelo/testing";
import { address, bearer, HINJEWADI, PUNE, startTestSystem, uniquePhone, type TestSystem } from "./test-support.js";

const LIST = "/weelo.notification.v1.NotificationService/ListNotifications";
const MARK_READ = "/weelo.notification.v1.NotificationService/MarkRead";

describe("notifications through the gateway", () => {
  let system: TestSystem;
  let dispatch: ServiceClient<typeof BookingDispatchServiceService>;
  before(async () => {
    system = await startTestSystem({ OTP_RESEND_COOLDOWN_S: "0", NOTIFY_RETRY_MS: "100" });
    dispatch = system.platform.meshClient(BookingDispatchServiceService, `127.0.0.1:${system.meshPort}`, "dispatch");
  });
  after(async () => {
    dispatch?.close();
    await system?.stop();
  });

  async function book(customer: { accessToken: string }) {
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
        pickup: address(PUNE, "Anil Shinde"),
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

  const inbox = async (token: string, body: Record<string, unknown> = {}) => {
    const listed = await system.connect(LIST, body, bearer(token));
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    return listed.body as {
      notifications?: { id: string; kind: string; title: string; body: string; bookingId: string; readAt?: string }[];
      unreadCount?: number;
      nextPageToken?: string;
    };
  };

  it("puts a booking's changes in the customer's inbox (in Hindi when chosen) and the assignment in the driver's", async () => {
    const customer = await system.login("customer");
    const device = await system.connect(
      "/weelo.identity.v1.ProfileService/RegisterDevice",
      { pushToken: `fcm-${randomUUID()}`, platform: "DEVICE_PLATFORM_ANDROID" },
      bearer(customer.accessToken),
    );
    assert.equal(device.status, 200, JSON.stringify(device.body));
    const hindi = await system.connect(
      "/weelo.identity.v1.ProfileService/UpdateProfile",
      { language: "LANGUAGE_HINDI" },
      bearer(customer.accessToken),
    );
    assert.equal(hindi.status, 200, JSON.stringify(hindi.body));
    const transporter = await system.login("transporter");

    const bookingId = await book(customer);
    await until(
      "the booking-placed notification",
      async () => (await inbox(customer.accessToken)).notifications?.length === 1,
      15_000,
    );
    await dispatch.confirmBooking({ bookingId, transporterId: transporter.user.id });
    await until(
      "the confirmation",
      async () => (await inbox(customer.accessToken)).notifications?.length === 2,
      15_000,
    );

    const page = await inbox(customer.accessToken);
    assert.equal(page.unreadCount, 2);
    assert.deepEqual(
      page.notifications!.map((n) => n.kind),
      ["NOTIFICATION_KIND_BOOKING_CONFIRMED", "NOTIFICATION_KIND_BOOKING_PLACED"],
      "newest first",
    );
    assert.equal(page.notifications![0]!.title, "बुकिंग कन्फ़र्म");
    assert.equal(page.notifications![0]!.bookingId, bookingId);
    assert.match(page.notifications![1]!.body, /\(Pune → Pune\)$/);

    const marked = await system.connect(
      MARK_READ,
      { notificationId: page.notifications![0]!.id },
      bearer(customer.accessToken),
    );
    assert.equal(marked.status, 200, JSON.stringify(marked.body));
    assert.ok(marked.body.notification.readAt);
    assert.equal(marked.body.unreadCount, 1);
    const unread = await inbox(customer.accessToken, { unreadOnly: true });
    assert.deepEqual(
      unread.notifications!.map((n) => n.kind),
      ["NOTIFICATION_KIND_BOOKING_PLACED"],
    );

    // An assignment reaches the driver too: booking's event names the driver's account.
    const registration = `MH12NT${String(1000 + (process.pid % 9000))}`;
    const vehicle = (
      await system.rest(
        "POST",
        "/api/v1/vehicles",
        { idempotencyKey: randomUUID(), registrationNumber: registration, vehicleType: "pickup_8ft", capacityKg: 1250 },
        bearer(transporter.accessToken),
      )
    ).body.data.vehicle;
    const driverPhone = uniquePhone();
    const fleetDriver = (
      await system.connect(
        "/weelo.fleet.v1.DriverService/AddDriver",
        { idempotencyKey: randomUUID(), name: "Sunil More", phone: driverPhone, licenceNumber: "MH12 20180012345" },
        bearer(transporter.accessToken),
      )
    ).body.driver;
    const driver = await system.login("driver", driverPhone);
    await dispatch.assignBooking({
      bookingId,
      transporterId: transporter.user.id,
      driverId: fleetDriver.id,
      driverUserId: driver.user.id,
      vehicleId: vehicle.id,
    });
    await until(
      "the driver's assignment",
      async () => (await inbox(driver.accessToken)).notifications?.length === 1,
      15_000,
    );
    const [assignment] = (await inbox(driver.accessToken)).notifications!;
    assert.equal(assignment!.kind, "NOTIFICATION_KIND_NEW_ASSIGNMENT");
    assert.equal(assignment!.bookingId, bookingId);
    await until(
      "the customer's driver-assigned",
      async () => (await inbox(customer.accessToken)).notifications?.[0]?.kind === "NOTIFICATION_KIND_DRIVER_ASSIGNED",
      15_000,
    );

    // The transporter's inbox does not show the customer's messages, and MarkRead of them is 404.
    assert.equal((await inbox(transporter.accessToken)).notifications, undefined);
    const foreign = await system.connect(
      MARK_READ,
      { notificationId: page.notifications![1]!.id },
      bearer(transporter.accessToken),
    );
    assert.equal(foreign.status, 404);
    assert.equal(foreign.body.code, "not_found");
    assert.equal((await system.connect(LIST, {})).status, 401);
  });
});
