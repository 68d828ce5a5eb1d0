/**
 * The notification service through the real bus (in-process or NATS JetStream) and real
 * gRPC: events become inbox entries and pushes in the user's language, at most once per
 * event and recipient however often they are delivered; failures are retried with backoff,
 * critical ones fall back to SMS, dead tokens are removed, and what never succeeds ends in
 * the dead-letter stream. The inbox: pages, unread count, MarkRead of one's own only.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { v7 as uuidv7 } from "uuid";
import { ActorRole, BookingStatus } from "@weelo/contracts/grpc/weelo/booking/v1/booking";
import { BookingCreated, BookingStatusChanged } from "@weelo/contracts/grpc/weelo/booking/v1/events";
import { OfferAccepted, OfferCreated, WaveSent } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import { NotificationKind } from "@weelo/contracts/grpc/weelo/notification/v1/notification";
import { GeofenceEntered, GeofenceKind, TripStop } from "@weelo/contracts/grpc/weelo/tracking/v1/events";
import { GrpcCode } from "@weelo/errors";
import { failure, until } from "@weelo/testing";
import { DEAD_LETTER_HEADERS } from "./notification.consumers.js";
import { bookingRef } from "./notification.rules.js";
import { startTestNotification, type TestNotification, type TestUser } from "./test-support.js";

const statusChanged = (fields: Partial<BookingStatusChanged>) => ({
  typeName: "weelo.booking.v1.BookingStatusChanged",
  bytes: BookingStatusChanged.encode(
    BookingStatusChanged.fromPartial({ bookingId: uuidv7(), orderId: uuidv7(), ...fields }),
  ).finish(),
});

describe("notification service", () => {
  let t: TestNotification;
  before(async () => {
    t = await startTestNotification();
  });
  after(async () => {
    await t?.stop();
  });

  const inboxOf = async (user: TestUser, unreadOnly = false) =>
    (await t.inbox.listNotifications({ pageSize: 100, pageToken: "", unreadOnly }, user.auth)).notifications;

  it("tells customer and driver of an assignment once, each in their language, however often the event comes", async () => {
    const customer = await t.user("customer", { tokens: ["ok-c1", "ok-c2"], hindi: true });
    const driver = await t.user("driver", { tokens: ["ok-d1"] });
    const bookingId = uuidv7();
    const event = statusChanged({
      bookingId,
      from: BookingStatus.BOOKING_STATUS_CONFIRMED,
      to: BookingStatus.BOOKING_STATUS_ASSIGNED,
      customerId: customer.id,
      driverUserId: driver.id,
    });
    const eventId = await t.publish("booking", "booking.status_changed", event, { subjectId: bookingId });
    await until("both pushes", () => t.push.delivered(eventId).length === 2);

    const [forCustomer] = await inboxOf(customer);
    assert.equal(forCustomer!.kind, NotificationKind.NOTIFICATION_KIND_DRIVER_ASSIGNED);
    assert.equal(forCustomer!.title, "ड्राइवर तय");
    assert.ok(forCustomer!.body.includes(bookingRef(bookingId)));
    assert.equal(forCustomer!.bookingId, bookingId);
    const [forDriver] = await inboxOf(driver);
    assert.equal(forDriver!.kind, NotificationKind.NOTIFICATION_KIND_NEW_ASSIGNMENT);
    assert.equal(forDriver!.title, "New trip assigned");
    const customerPush = t.push.delivered(eventId, "driver_assigned")[0]!;
    assert.deepEqual(customerPush.tokens.sort(), [...customer.tokens].sort());
    assert.equal(customerPush.message.urgent, true);
    assert.equal(customerPush.message.body, forCustomer!.body);

    // The same event again (a redelivery, or a re-publish after the stream's duplicate window).
    const before = await t.handled("delivered");
    await t.publish("booking", "booking.status_changed", event, {
      eventId,
      msgId: `${eventId}-again`,
      subjectId: bookingId,
    });
    await until("the repeat handled", async () => (await t.handled("delivered")) > before);
    assert.equal(t.push.attempts(eventId).length, 2, "no second push");
    assert.equal((await inboxOf(customer)).length, 1, "no second inbox entry");
    assert.equal(t.sms.sent.length, 0);
  });

  it("tells the customer, the new driver and the released one of an operations' reassignment, and the customer of an operations' cancellation", async () => {
    const customer = await t.user("customer", { tokens: ["ok-rc1"] });
    const driver = await t.user("driver", { tokens: ["ok-rd1"], hindi: true });
    const released = await t.user("driver", { tokens: ["ok-rd2"] });
    const bookingId = uuidv7();
    const moved = await t.publish(
      "booking",
      "booking.reassigned",
      statusChanged({
        bookingId,
        from: BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE,
        to: BookingStatus.BOOKING_STATUS_ASSIGNED,
        actorRole: ActorRole.ACTOR_ROLE_OPS,
        customerId: customer.id,
        driverUserId: driver.id,
        previousDriverUserId: released.id,
      }),
      { subjectId: bookingId },
    );
    await until("three pushes", () => t.push.delivered(moved).length === 3);
    const [forCustomer] = await inboxOf(customer);
    assert.equal(forCustomer!.kind, NotificationKind.NOTIFICATION_KIND_DRIVER_ASSIGNED);
    assert.equal(forCustomer!.title, "New driver assigned");
    const [forDriver] = await inboxOf(driver);
    assert.equal(forDriver!.kind, NotificationKind.NOTIFICATION_KIND_NEW_ASSIGNMENT);
    assert.equal(forDriver!.title, "नई ट्रिप");
    const [forReleased] = await inboxOf(released);
    assert.equal(forReleased!.kind, NotificationKind.NOTIFICATION_KIND_TRIP_CANCELLED);
    assert.match(forReleased!.body, /given to another driver/);

    const cancelled = await t.publish(
      "booking",
      "booking.cancelled",
      statusChanged({
        bookingId,
        from: BookingStatus.BOOKING_STATUS_ASSIGNED,
        to: BookingStatus.BOOKING_STATUS_CANCELLED,
        actorRole: ActorRole.ACTOR_ROLE_OPS,
        reason: "the truck cannot enter the area",
        customerId: customer.id,
      }),
      { subjectId: bookingId },
    );
    await until("the customer's push", () => t.push.delivered(cancelled).length === 1);
    const [latest] = await inboxOf(customer);
    assert.equal(latest!.kind, NotificationKind.NOTIFICATION_KIND_BOOKING_CANCELLED);
    assert.match(latest!.body, /^Weelo support cancelled booking .*: the truck cannot enter the area/);
  });

  it("retries a failing push with backoff through redelivery and sends it once", async () => {
    const customer = await t.user("customer", { tokens: ["flaky2-c"] });
    const eventId = await t.publish(
      "booking",
      "booking.status_changed",
      statusChanged({ to: BookingStatus.BOOKING_STATUS_CONFIRMED, customerId: customer.id }),
    );
    await until("the push delivered", () => t.push.delivered(eventId).length === 1);
    assert.equal(t.push.attempts(eventId).length, 3, "two failures, then the success");
    assert.equal((await inboxOf(customer)).length, 1, "one inbox entry across the three deliveries");
    assert.equal(t.deadLetters.length, 0);
  });

  it("texts a critical message when no push reached the user, and removes the tokens FCM rejected", async () => {
    const customer = await t.user("customer", { tokens: ["gone-1", "gone-2"] });
    assert.equal((await t.contacts.getContact({ userId: customer.id })).pushTokens.length, 2);
    const eventId = await t.publish(
      "booking",
      "booking.status_changed",
      statusChanged({ to: BookingStatus.BOOKING_STATUS_AT_DROPOFF, customerId: customer.id }),
    );
    await until("the SMS", () => t.sms.sent.some((s) => s.phone === customer.phone));
    const text = t.sms.sent.find((s) => s.phone === customer.phone)!.text;
    assert.match(text, /^Weelo: Truck at drop\. .*delivery code/);
    await until(
      "dead tokens removed",
      async () => (await t.contacts.getContact({ userId: customer.id })).pushTokens.length === 0,
    );
    assert.equal(t.push.attempts(eventId).length, 1);

    // A provider outage: the critical message goes by SMS at once, a non-critical one waits for a retry.
    const outage = await t.user("customer", { tokens: ["down-1"] });
    await t.publish(
      "booking",
      "booking.status_changed",
      statusChanged({ to: BookingStatus.BOOKING_STATUS_ASSIGNED, customerId: outage.id }),
    );
    await until("the outage SMS", () => t.sms.sent.some((s) => s.phone === outage.phone));
    assert.equal(t.sms.sent.filter((s) => s.phone === outage.phone).length, 1);
  });

  it("texts a critical message to a user without devices once, however often the event comes", async () => {
    const customer = await t.user("customer", { tokens: [] });
    const bookingId = uuidv7();
    const event = statusChanged({ bookingId, to: BookingStatus.BOOKING_STATUS_AT_DROPOFF, customerId: customer.id });
    const eventId = await t.publish("booking", "booking.status_changed", event, { subjectId: bookingId });
    await until("the SMS", () => t.sms.sent.some((s) => s.phone === customer.phone));
    assert.equal((await inboxOf(customer)).length, 1);

    const before = await t.handled("delivered");
    await t.publish("booking", "booking.status_changed", event, {
      eventId,
      msgId: `${eventId}-again`,
      subjectId: bookingId,
    });
    await until("the repeat handled", async () => (await t.handled("delivered")) > before);
    assert.equal(t.push.attempts(eventId).length, 0, "nothing pushed: no devices");
    assert.equal(t.sms.sent.filter((s) => s.phone === customer.phone).length, 1, "no second SMS");
    assert.equal((await inboxOf(customer)).length, 1, "no second inbox entry");
  });

  it("sends an event that keeps failing to the dead-letter stream after NOTIFY_MAX_DELIVER tries", async () => {
    const customer = await t.user("customer", { tokens: ["down-2"] });
    const bookingId = uuidv7();
    const eventId = await t.publish(
      "booking",
      "booking.status_changed",
      statusChanged({ bookingId, to: BookingStatus.BOOKING_STATUS_IN_TRANSIT, customerId: customer.id }),
    );
    const letterOf = (id: string) => t.deadLetters.find((m) => EventEnvelope.decode(m.data).id === id);
    await until("the dead letter", () => letterOf(eventId) !== undefined);
    const letter = letterOf(eventId)!;
    assert.equal(letter.headers[DEAD_LETTER_HEADERS.deliveries], "3");
    assert.equal(letter.headers[DEAD_LETTER_HEADERS.stream], t.config.BOOKING_STREAM);
    assert.equal(
      letter.subject,
      `${t.config.NOTIFY_SUBJECT_ROOT}.dead_letter.${t.config.BOOKING_SUBJECT_ROOT}.status_changed`,
    );
    assert.match(letter.headers[DEAD_LETTER_HEADERS.reason]!, /could not be delivered/);
    assert.equal(t.push.attempts(eventId).length, 3, "one push try per delivery");
    // The customer still has the message in the app.
    assert.equal((await inboxOf(customer))[0]!.kind, NotificationKind.NOTIFICATION_KIND_TRIP_STARTED);

    // An event whose payload is not what its type says cannot get better: dead-lettered at once.
    const broken = await t.publish("booking", "booking.created", {
      typeName: "weelo.booking.v1.BookingCreated",
      bytes: new Uint8Array([0xff, 0xff, 0xff]),
    });
    await until("the undecodable event's dead letter", () => letterOf(broken) !== undefined);
    assert.equal(letterOf(broken)!.headers[DEAD_LETTER_HEADERS.deliveries], "1");
    assert.match(
      letterOf(broken)!.headers[DEAD_LETTER_HEADERS.reason]!,
      /not a valid weelo\.booking\.v1\.BookingCreated/,
    );
  });

  it("puts an event older than NOTIFY_PUSH_MAX_AGE_S in the inbox without pushing it", async () => {
    const customer = await t.user("customer", { tokens: ["ok-s1"] });
    const before = await t.handled("delivered");
    const eventId = await t.publish(
      "booking",
      "booking.status_changed",
      statusChanged({ to: BookingStatus.BOOKING_STATUS_AT_PICKUP, customerId: customer.id }),
      { occurredAt: new Date(Date.now() - 2 * 3600 * 1000) },
    );
    await until("the event handled", async () => (await t.handled("delivered")) > before);
    assert.equal((await inboxOf(customer))[0]!.kind, NotificationKind.NOTIFICATION_KIND_DRIVER_AT_PICKUP);
    assert.equal(t.push.attempts(eventId).length, 0, "no push two hours late");
  });

  it("tells the customer the truck is arriving, from tracking's geofence event", async () => {
    const customer = await t.user("customer", { tokens: ["ok-g1"] });
    const bookingId = uuidv7();
    const bytes = GeofenceEntered.encode(
      GeofenceEntered.fromPartial({
        bookingId,
        customerId: customer.id,
        stop: TripStop.TRIP_STOP_PICKUP,
        kind: GeofenceKind.GEOFENCE_KIND_ARRIVING,
      }),
    ).finish();
    await t.publish("tracking", "tracking.geofence.arriving", { typeName: "weelo.tracking.v1.GeofenceEntered", bytes });
    await until("the inbox entry", async () => (await inboxOf(customer)).length === 1);
    const [entry] = await inboxOf(customer);
    assert.equal(entry!.kind, NotificationKind.NOTIFICATION_KIND_DRIVER_ARRIVING);
    assert.equal(entry!.body, `The truck of booking ${bookingRef(bookingId)} is about to reach the pickup location.`);
  });

  it("pushes a new offer only to a transporter who is not watching offers, and confirms an acceptance", async () => {
    const offline = await t.user("transporter", { tokens: ["ok-t1"], hindi: true });
    const online = await t.user("transporter", { tokens: ["ok-t2"] });
    const orderId = uuidv7();
    const bookingIds = [uuidv7(), uuidv7()];
    const wave = WaveSent.fromPartial({
      orderId,
      bookingIds,
      round: 1,
      wave: 1,
      farePaise: 900_000,
      vehicleCount: 2,
      pickupCity: "Pune",
      dropCity: "Nashik",
      offers: [
        { offerId: uuidv7(), transporterId: online.id, transporterOnline: true },
        { offerId: uuidv7(), transporterId: offline.id, transporterOnline: false },
      ],
    });
    const sent = await t.publish("dispatch", "dispatch.wave_sent", {
      typeName: "weelo.dispatch.v1.WaveSent",
      bytes: WaveSent.encode(wave).finish(),
    });
    await until("the offline transporter's push", () => t.push.delivered(sent, "new_offer").length === 1);
    assert.equal((await inboxOf(online)).length, 0, "a transporter watching offers live gets no push");
    // An offer_created event still in the stream from before wave_sent is handled as before.
    const before = await t.handled("no_recipients");
    const old = OfferCreated.encode(
      OfferCreated.fromPartial({
        offerId: uuidv7(),
        orderId: uuidv7(),
        bookingIds,
        transporterId: online.id,
        transporterOnline: true,
      }),
    ).finish();
    await t.publish("dispatch", "dispatch.offer_created", { typeName: "weelo.dispatch.v1.OfferCreated", bytes: old });
    await until("the older event handled", async () => (await t.handled("no_recipients")) > before);
    assert.equal((await inboxOf(online)).length, 0);
    const [entry] = await inboxOf(offline);
    assert.equal(entry!.kind, NotificationKind.NOTIFICATION_KIND_NEW_OFFER);
    assert.equal(
      entry!.body,
      `नई बुकिंग ${bookingRef(orderId)} (2 ट्रक) (₹9,000) आपका इंतज़ार कर रही है। स्वीकार करने के लिए Weelo खोलें। (Pune → Nashik)`,
    );
    assert.equal(entry!.bookingId, "", "an order of two trucks names no single booking");
    assert.equal(entry!.data.order_id, orderId);

    const accepted = OfferAccepted.encode(
      OfferAccepted.fromPartial({ offerId: uuidv7(), orderId, bookingIds: [bookingIds[0]!], transporterId: online.id }),
    ).finish();
    await t.publish("dispatch", "dispatch.offer_accepted", {
      typeName: "weelo.dispatch.v1.OfferAccepted",
      bytes: accepted,
    });
    await until("the acceptance", async () => (await inboxOf(online)).length === 1);
    assert.equal((await inboxOf(online))[0]!.kind, NotificationKind.NOTIFICATION_KIND_OFFER_ACCEPTED);
    assert.equal((await inboxOf(online))[0]!.bookingId, bookingIds[0]);
  });

  it("lists the inbox newest first in pages with the unread count; MarkRead only one's own", async () => {
    const customer = await t.user("customer");
    const stranger = await t.user("customer");
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const bytes = BookingCreated.encode(
        BookingCreated.fromPartial({
          bookingId: uuidv7(),
          customerId: customer.id,
          pickupCity: "Pune",
          dropCity: "Mumbai",
        }),
      ).finish();
      ids.push(await t.publish("booking", "booking.created", { typeName: "weelo.booking.v1.BookingCreated", bytes }));
    }
    await until("five entries", async () => (await inboxOf(customer)).length === 5);
    const first = await t.inbox.listNotifications({ pageSize: 2, pageToken: "", unreadOnly: false }, customer.auth);
    assert.equal(first.notifications.length, 2);
    assert.equal(first.unreadCount, 5);
    const second = await t.inbox.listNotifications(
      { pageSize: 2, pageToken: first.nextPageToken, unreadOnly: false },
      customer.auth,
    );
    const third = await t.inbox.listNotifications(
      { pageSize: 2, pageToken: second.nextPageToken, unreadOnly: false },
      customer.auth,
    );
    assert.equal(third.nextPageToken, "");
    const all = [...first.notifications, ...second.notifications, ...third.notifications];
    assert.equal(all.length, 5);
    assert.deepEqual(
      all.map((n) => n.id),
      [...all.map((n) => n.id)].sort().reverse(),
      "newest first",
    );
    assert.match(all[0]!.body, /\(Pune → Mumbai\)$/);

    const target = all[1]!;
    const marked = await t.inbox.markRead({ notificationId: target.id }, customer.auth);
    assert.ok(marked.notification!.readAt);
    assert.equal(marked.unreadCount, 4);
    const again = await t.inbox.markRead({ notificationId: target.id }, customer.auth);
    assert.equal(
      again.notification!.readAt!.getTime(),
      marked.notification!.readAt!.getTime(),
      "the first read time stays",
    );
    assert.equal((await inboxOf(customer, true)).length, 4);

    assert.equal(
      (await failure(t.inbox.markRead({ notificationId: all[0]!.id }, stranger.auth))).code,
      GrpcCode.NOT_FOUND,
    );
    assert.equal(
      (await failure(t.inbox.markRead({ notificationId: "nope" }, customer.auth))).code,
      GrpcCode.INVALID_ARGUMENT,
    );
    assert.equal(
      (await failure(t.inbox.listNotifications({ pageSize: 10, pageToken: "", unreadOnly: false }))).code,
      GrpcCode.UNAUTHENTICATED,
    );
    assert.equal((await inboxOf(stranger)).length, 0);
  });

  it("prunes inbox entries and delivery claims past their retention, and nothing newer", async () => {
    const customer = await t.user("customer", { tokens: ["ok-p1"] });
    const eventId = await t.publish(
      "booking",
      "booking.status_changed",
      statusChanged({ to: BookingStatus.BOOKING_STATUS_COMPLETED, customerId: customer.id }),
    );
    await until("the inbox entry", () => t.push.delivered(eventId).length === 1);
    assert.deepEqual(await t.notification.service.prune(), { notifications: 0, deliveries: 0 }, "nothing is old yet");
    const later = new Date(Date.now() + 91 * 24 * 3600 * 1000);
    const pruned = await t.notification.service.prune(later);
    assert.ok(pruned.notifications >= 1 && pruned.deliveries >= 1, JSON.stringify(pruned));
    assert.equal((await inboxOf(customer)).length, 0);
  });
});

describe("notification alone with identity down", () => {
  let t: TestNotification;
  before(async () => {
    // Redelivered often enough to outlast the outage, never dead-lettered meanwhile.
    t = await startTestNotification({ env: { NOTIFY_MAX_DELIVER: "50", NOTIFY_RETRY_MS: "100" } });
  });
  after(async () => {
    await t?.stop();
  });

  const inboxOf = async (user: TestUser) =>
    (await t.inbox.listNotifications({ pageSize: 100, pageToken: "", unreadOnly: false }, user.auth)).notifications;

  it("keeps an event while identity is down (contacts UNAVAILABLE) and delivers it once identity is back", async () => {
    const customer = await t.user("customer", { tokens: ["ok-id1"] });
    const bookingId = uuidv7();
    const retriedBefore = await t.handled("retry");
    await t.identity.down();
    let eventId: string;
    try {
      eventId = await t.publish(
        "booking",
        "booking.status_changed",
        statusChanged({
          bookingId,
          from: BookingStatus.BOOKING_STATUS_CONFIRMED,
          to: BookingStatus.BOOKING_STATUS_ASSIGNED,
          customerId: customer.id,
        }),
        { subjectId: bookingId },
      );
      await until("a failed attempt, left for redelivery", async () => (await t.handled("retry")) > retriedBefore);
      assert.equal(t.push.attempts(eventId).length, 0, "nothing pushed without the contact");
      assert.equal(t.deadLetters.length, 0, "not dead-lettered");
      // What the consumer got from identity's address: UNAVAILABLE, which it leaves for redelivery.
      assert.equal((await failure(t.contacts.getContact({ userId: customer.id }))).code, GrpcCode.UNAVAILABLE);
    } finally {
      await t.identity.up();
    }
    await until("the push once identity is back", () => t.push.delivered(eventId).length === 1, 20_000);
    assert.equal((await inboxOf(customer)).length, 1);
  });
});
