import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Consumer } from "@weelo/bus";
import { ActorRole, BookingStatus } from "@weelo/contracts/grpc/weelo/booking/v1/booking";
import { BookingStatusChanged } from "@weelo/contracts/grpc/weelo/booking/v1/events";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import { GrpcCode } from "@weelo/errors";
import { until } from "@weelo/testing";
import { v7 as uuidv7 } from "uuid";
import { failure, startTestBooking, type Party, type TestBooking } from "./test-support.js";

const OPS_USER = "01900000-0000-7000-8000-0000000000a1";

describe("BookingOpsService and operations' dispatch steps over gRPC", () => {
  let t: TestBooking;
  let consumer: Consumer | undefined;
  const seen: { subject: string; envelope: EventEnvelope }[] = [];
  const eventsOf = (bookingId: string) =>
    seen.filter((s) => s.envelope.subjectId === bookingId).sort((a, b) => a.envelope.sequence - b.envelope.sequence);

  before(async () => {
    t = await startTestBooking();
    consumer = await t.platform.bus.consume({
      stream: t.config.BOOKING_STREAM,
      durable: "booking-ops-test",
      handler: (msg) => void seen.push({ subject: msg.subject, envelope: EventEnvelope.decode(msg.data) }),
    });
  });
  after(async () => {
    await consumer?.stop();
    await t?.stop();
  });

  async function created(customer: Party, city?: string) {
    const request = await t.request(customer);
    if (city) request.pickup = { ...request.pickup!, city };
    const { order } = await t.bookings.createBooking(request, customer.auth);
    return order!.bookings[0]!;
  }

  async function assigned(customer?: Party) {
    const c = customer ?? (await t.party("customer"));
    const booking = await created(c);
    const transporter = await t.party("transporter");
    const driver = await t.party("driver");
    const driverId = uuidv7();
    const vehicleId = uuidv7();
    await t.dispatch.confirmBooking({ bookingId: booking.id, transporterId: transporter.id });
    await t.dispatch.assignBooking({
      bookingId: booking.id,
      transporterId: transporter.id,
      driverId,
      driverUserId: driver.id,
      vehicleId,
    });
    return { customer: c, transporter, driver, driverId, vehicleId, booking };
  }

  it("searches every customer's bookings by status, city, time and customer, newest first, in keyset pages", async () => {
    const city = `Opsville-${uuidv7().slice(-6)}`;
    const a = await t.party("customer");
    const b = await t.party("customer");
    const mine = [await created(a, city), await created(a, city), await created(b, city)];
    const other = await created(b);
    // The city matches without regard to case; newest first.
    const all = await t.ops.searchAllBookings({
      statuses: [],
      pickupCity: city.toUpperCase(),
      customerIds: [],
      bookingId: "",
      page: { pageSize: 0, pageToken: "" },
    });
    assert.deepEqual(
      all.bookings.map((x) => x.id),
      mine.map((x) => x.id).reverse(),
    );
    assert.equal(all.bookings[0]!.pickupCode, "", "operations never see the trip codes");
    // Pages of 2, then the rest.
    const first = await t.ops.searchAllBookings({
      statuses: [],
      pickupCity: city,
      customerIds: [],
      bookingId: "",
      page: { pageSize: 2, pageToken: "" },
    });
    assert.equal(first.bookings.length, 2);
    assert.notEqual(first.page!.nextPageToken, "");
    const second = await t.ops.searchAllBookings({
      statuses: [],
      pickupCity: city,
      customerIds: [],
      bookingId: "",
      page: { pageSize: 2, pageToken: first.page!.nextPageToken },
    });
    assert.deepEqual(
      second.bookings.map((x) => x.id),
      [mine[0]!.id],
    );
    assert.equal(second.page!.nextPageToken, "");
    // By customer and status, and by time.
    await t.dispatch.confirmBooking({ bookingId: mine[2]!.id, transporterId: uuidv7() });
    const confirmed = await t.ops.searchAllBookings({
      statuses: [BookingStatus.BOOKING_STATUS_CONFIRMED],
      pickupCity: "",
      customerIds: [b.id],
      bookingId: "",
    });
    assert.deepEqual(
      confirmed.bookings.map((x) => x.id),
      [mine[2]!.id],
    );
    const future = await t.ops.searchAllBookings({
      statuses: [],
      pickupCity: "",
      customerIds: [b.id],
      bookingId: "",
      createdFrom: new Date(Date.now() + 3_600_000),
    });
    assert.equal(future.bookings.length, 0);
    const byId = await t.ops.searchAllBookings({
      statuses: [],
      pickupCity: "",
      customerIds: [],
      bookingId: other.id,
    });
    assert.deepEqual(
      byId.bookings.map((x) => x.id),
      [other.id],
    );
    const wrong = await failure(
      t.ops.searchAllBookings({ statuses: [], pickupCity: "", customerIds: ["nope"], bookingId: "" }),
    );
    assert.equal(wrong.code, GrpcCode.INVALID_ARGUMENT);
  });

  it("cancels any status short of the end by ops, free, with the ops user in the history and booking.cancelled", async () => {
    const { booking, driver } = await assigned();
    for (const status of [BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE]) {
      await t.bookings.updateBookingStatus({ bookingId: booking.id, status, code: "" }, driver.auth);
    }
    const cancelled = await t.ops.cancelBookingByOps({
      bookingId: booking.id,
      opsUserId: OPS_USER,
      reason: "customer called the helpline",
    });
    assert.equal(cancelled.booking!.status, BookingStatus.BOOKING_STATUS_CANCELLED);
    assert.equal(cancelled.previousStatus, BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE);
    assert.equal(cancelled.booking!.cancellationFeePaise, 0);
    const again = await t.ops.cancelBookingByOps({ bookingId: booking.id, opsUserId: OPS_USER, reason: "again" });
    assert.equal(again.previousStatus, BookingStatus.BOOKING_STATUS_CANCELLED);
    assert.equal(again.booking!.sequence, cancelled.booking!.sequence);
    const { history, booking: read } = await t.ops.getBookingHistory({ bookingId: booking.id });
    assert.equal(read!.status, BookingStatus.BOOKING_STATUS_CANCELLED);
    assert.deepEqual(
      history.map((h) => h.to),
      [
        BookingStatus.BOOKING_STATUS_PENDING,
        BookingStatus.BOOKING_STATUS_CONFIRMED,
        BookingStatus.BOOKING_STATUS_ASSIGNED,
        BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE,
        BookingStatus.BOOKING_STATUS_CANCELLED,
      ],
    );
    assert.equal(history.at(-1)!.actorRole, ActorRole.ACTOR_ROLE_OPS);
    assert.equal(history.at(-1)!.actorId, OPS_USER);
    assert.equal(history.at(-1)!.reason, "customer called the helpline");
    await until("booking.cancelled", () => eventsOf(booking.id).some((e) => e.subject.endsWith(".cancelled")));
    const event = eventsOf(booking.id).find((e) => e.subject.endsWith(".cancelled"))!;
    const change = BookingStatusChanged.decode(event.envelope.payload!.value);
    assert.equal(change.actorRole, ActorRole.ACTOR_ROLE_OPS);
    assert.equal(change.from, BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE);

    // Even loaded goods (IN_TRANSIT), which a customer may no longer cancel; COMPLETED never.
    const loaded = await assigned();
    for (const status of [BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE, BookingStatus.BOOKING_STATUS_AT_PICKUP]) {
      await t.bookings.updateBookingStatus({ bookingId: loaded.booking.id, status, code: "" }, loaded.driver.auth);
    }
    await t.bookings.updateBookingStatus(
      {
        bookingId: loaded.booking.id,
        status: BookingStatus.BOOKING_STATUS_IN_TRANSIT,
        code: loaded.booking.pickupCode,
      },
      loaded.driver.auth,
    );
    const customerLate = await failure(
      t.bookings.cancelBooking({ bookingId: loaded.booking.id, reason: "" }, loaded.customer.auth),
    );
    assert.equal(customerLate.reason, "CANCELLATION_TOO_LATE");
    const late = await t.ops.cancelBookingByOps({ bookingId: loaded.booking.id, opsUserId: OPS_USER, reason: "x" });
    assert.equal(late.previousStatus, BookingStatus.BOOKING_STATUS_IN_TRANSIT);
    assert.equal(late.booking!.status, BookingStatus.BOOKING_STATUS_CANCELLED);
    const unknown = await failure(t.ops.cancelBookingByOps({ bookingId: uuidv7(), opsUserId: OPS_USER, reason: "x" }));
    assert.equal(unknown.code, GrpcCode.NOT_FOUND);
  });

  it("refuses cancelling a COMPLETED booking", async () => {
    const { booking, driver } = await assigned();
    const step = (status: BookingStatus, code = "") =>
      t.bookings.updateBookingStatus({ bookingId: booking.id, status, code }, driver.auth);
    await step(BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE);
    await step(BookingStatus.BOOKING_STATUS_AT_PICKUP);
    await step(BookingStatus.BOOKING_STATUS_IN_TRANSIT, booking.pickupCode);
    await step(BookingStatus.BOOKING_STATUS_AT_DROPOFF);
    await step(BookingStatus.BOOKING_STATUS_COMPLETED, booking.deliveryCode);
    const refused = await failure(
      t.ops.cancelBookingByOps({ bookingId: booking.id, opsUserId: OPS_USER, reason: "x" }),
    );
    assert.equal(refused.code, GrpcCode.FAILED_PRECONDITION);
    assert.equal(refused.reason, "ILLEGAL_STATUS_TRANSITION");
  });

  it("reassigns an ASSIGNED or DRIVER_EN_ROUTE booking to another driver, keeps the codes, and publishes booking.reassigned", async () => {
    const { booking, driver, driverId, vehicleId, customer } = await assigned();
    await t.bookings.updateBookingStatus(
      { bookingId: booking.id, status: BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE, code: "" },
      driver.auth,
    );
    const next = await t.party("driver");
    const request = {
      bookingId: booking.id,
      driverId: uuidv7(),
      driverUserId: next.id,
      vehicleId: uuidv7(),
      opsUserId: OPS_USER,
      reason: "truck broke down",
    };
    const moved = await t.dispatch.reassignBooking(request);
    assert.equal(moved.booking!.status, BookingStatus.BOOKING_STATUS_ASSIGNED);
    assert.equal(moved.booking!.driverId, request.driverId);
    assert.equal(moved.booking!.vehicleId, request.vehicleId);
    assert.equal(moved.previousDriverId, driverId);
    assert.equal(moved.previousVehicleId, vehicleId);
    // A retry changes nothing.
    const retry = await t.dispatch.reassignBooking(request);
    assert.equal(retry.booking!.sequence, moved.booking!.sequence);
    assert.equal(retry.previousDriverId, request.driverId);
    // The old driver no longer sees it; the new one moves it, with the same codes.
    assert.equal(
      (await failure(t.bookings.getBooking({ bookingId: booking.id }, driver.auth))).code,
      GrpcCode.NOT_FOUND,
    );
    const en = await t.bookings.updateBookingStatus(
      { bookingId: booking.id, status: BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE, code: "" },
      next.auth,
    );
    assert.equal(en.booking!.status, BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE);
    const { history } = await t.ops.getBookingHistory({ bookingId: booking.id });
    const change = history.find((h) => h.actorRole === ActorRole.ACTOR_ROLE_OPS)!;
    assert.equal(change.from, BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE);
    assert.equal(change.to, BookingStatus.BOOKING_STATUS_ASSIGNED);
    assert.equal(change.actorId, OPS_USER);
    assert.equal(change.reason, "truck broke down");
    await until("booking.reassigned", () => eventsOf(booking.id).some((e) => e.subject.endsWith(".reassigned")));
    const event = eventsOf(booking.id).find((e) => e.subject.endsWith(".reassigned"))!;
    const payload = BookingStatusChanged.decode(event.envelope.payload!.value);
    assert.equal(event.envelope.type, "booking.reassigned");
    assert.equal(payload.driverId, request.driverId);
    assert.equal(payload.driverUserId, next.id);
    assert.equal(payload.previousDriverId, driverId);
    assert.equal(payload.previousDriverUserId, driver.id);
    assert.equal(payload.previousVehicleId, vehicleId);
    const seenByCustomer = await t.bookings.getBooking({ bookingId: booking.id }, customer.auth);
    assert.equal(seenByCustomer.booking!.pickupCode, booking.pickupCode, "the trip codes stay");
    assert.equal(seenByCustomer.booking!.deliveryCode, booking.deliveryCode);

    // Only from ASSIGNED or DRIVER_EN_ROUTE.
    const pending = await created(await t.party("customer"));
    const refused = await failure(t.dispatch.reassignBooking({ ...request, bookingId: pending.id }));
    assert.equal(refused.code, GrpcCode.FAILED_PRECONDITION);
  });

  it("reopens by ops from DRIVER_EN_ROUTE, naming the ops user; dispatch's own reopen still may not", async () => {
    const { booking, driver } = await assigned();
    await t.bookings.updateBookingStatus(
      { bookingId: booking.id, status: BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE, code: "" },
      driver.auth,
    );
    const plain = await failure(t.dispatch.reopenBooking({ bookingId: booking.id, reason: "late", opsUserId: "" }));
    assert.equal(plain.code, GrpcCode.FAILED_PRECONDITION);
    const back = await t.dispatch.reopenBooking({
      bookingId: booking.id,
      reason: "driver unreachable",
      opsUserId: OPS_USER,
    });
    assert.equal(back.booking!.status, BookingStatus.BOOKING_STATUS_PENDING);
    assert.equal(back.booking!.driverId, "");
    const { history } = await t.ops.getBookingHistory({ bookingId: booking.id });
    assert.equal(history.at(-1)!.actorRole, ActorRole.ACTOR_ROLE_OPS);
    assert.equal(history.at(-1)!.actorId, OPS_USER);
    assert.equal(history.at(-1)!.reopened, true);
  });

  it("counts the funnel per hour in one query, empty hours included", async () => {
    const hour = 3_600_000;
    const start = new Date(Math.floor(Date.now() / hour) * hour - 2 * hour);
    const before = await t.ops.getBookingFunnel({ from: start, to: new Date(start.getTime() + 3 * hour) });
    assert.equal(before.hours.length, 3);
    assert.deepEqual(
      before.hours.map((h) => h.hourStart!.getTime()),
      [0, 1, 2].map((i) => start.getTime() + i * hour),
    );
    const now = before.hours[2]!;
    const { booking } = await assigned();
    await t.ops.cancelBookingByOps({ bookingId: booking.id, opsUserId: OPS_USER, reason: "funnel" });
    const pending = await created(await t.party("customer"));
    await t.dispatch.expireBooking({ bookingId: pending.id });
    const after = await t.ops.getBookingFunnel({ from: start, to: new Date(start.getTime() + 3 * hour) });
    const latest = after.hours[2]!;
    // Other tests of this file run in the same schema but never at once: exact differences.
    assert.equal(latest.ordersCreated - now.ordersCreated, 2);
    assert.equal(latest.bookingsCreated - now.bookingsCreated, 2);
    assert.equal(latest.assigned - now.assigned, 1);
    assert.equal(latest.cancelled - now.cancelled, 1);
    assert.equal(latest.expired - now.expired, 1);
    assert.equal(after.hours[0]!.ordersCreated, before.hours[0]!.ordersCreated);
    const tooLong = await failure(
      t.ops.getBookingFunnel({ from: start, to: new Date(start.getTime() + 8 * 24 * hour) }),
    );
    assert.equal(tooLong.code, GrpcCode.INVALID_ARGUMENT);
  });
});
