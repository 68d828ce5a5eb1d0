import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Consumer } from "@weelo/bus";
import { BookingStatus } from "@weelo/contracts/grpc/weelo/booking/v1/booking";
import type { WatchBookingResponse } from "@weelo/contracts/grpc/weelo/booking/v1/booking_service";
import { BookingCreated, BookingStatusChanged } from "@weelo/contracts/grpc/weelo/booking/v1/events";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import { sleep, until } from "@weelo/testing";
import { startTestBooking, type Party, type TestBooking } from "./test-support.js";

interface Seen {
  subject: string;
  envelope: EventEnvelope;
}

describe("booking events, WatchBooking and scheduled broadcasts", () => {
  let t: TestBooking;
  let consumer: Consumer | undefined;
  const seen: Seen[] = [];
  const eventsOf = (bookingId: string) => seen.filter((s) => s.envelope.subjectId === bookingId);

  before(async () => {
    t = await startTestBooking({ env: { BROADCAST_LEAD_MINUTES: "60" } });
    consumer = await t.platform.bus.consume({
      stream: t.config.BOOKING_STREAM,
      durable: "booking-test",
      handler: (msg) => void seen.push({ subject: msg.subject, envelope: EventEnvelope.decode(msg.data) }),
    });
  });
  after(async () => {
    await consumer?.stop();
    await t?.stop();
  });

  async function assigned(customer: Party) {
    const { order } = await t.bookings.createBooking(await t.request(customer), customer.auth);
    const booking = order!.bookings[0]!;
    const transporter = await t.party("transporter");
    const driver = await t.party("driver");
    await t.dispatch.confirmBooking({ bookingId: booking.id, transporterId: transporter.id });
    await t.dispatch.assignBooking({
      bookingId: booking.id,
      transporterId: transporter.id,
      driverId: "01900000-0000-7000-8000-00000000d002",
      driverUserId: driver.id,
      vehicleId: "01900000-0000-7000-8000-00000000e002",
    });
    return { booking, transporter, driver };
  }

  it("publishes every change of a booking on the stream, in order, with its sequence", async () => {
    const customer = await t.party("customer");
    const { booking, driver } = await assigned(customer);
    await t.bookings.updateBookingStatus(
      { bookingId: booking.id, status: BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE, code: "" },
      driver.auth,
    );
    await t.bookings.cancelBooking({ bookingId: booking.id, reason: "changed my mind" }, customer.auth);
    await until("five events", () => eventsOf(booking.id).length === 5);
    const events = eventsOf(booking.id).sort((a, b) => a.envelope.sequence - b.envelope.sequence);
    const root = t.config.BOOKING_SUBJECT_ROOT;
    assert.deepEqual(
      events.map((e) => e.subject),
      [
        `${root}.created`,
        `${root}.status_changed`,
        `${root}.status_changed`,
        `${root}.status_changed`,
        `${root}.cancelled`,
      ],
    );
    assert.deepEqual(
      events.map((e) => e.envelope.sequence),
      [1, 2, 3, 4, 5],
    );
    assert.deepEqual(
      events.map((e) => e.envelope.type),
      [
        "booking.created",
        "booking.status_changed",
        "booking.status_changed",
        "booking.status_changed",
        "booking.cancelled",
      ],
    );
    const created = BookingCreated.decode(events[0]!.envelope.payload!.value);
    assert.equal(created.bookingId, booking.id);
    assert.equal(created.vehicleType, "lcv_14ft");
    assert.ok(created.pickup && created.farePaise > 0);
    const cancelled = BookingStatusChanged.decode(events[4]!.envelope.payload!.value);
    assert.equal(cancelled.from, BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE);
    assert.equal(cancelled.to, BookingStatus.BOOKING_STATUS_CANCELLED);
    assert.ok(cancelled.cancellationFeePaise > 0);
    assert.equal(cancelled.reason, "changed my mind");
  });

  it("publishes booking.reopened when the transporter gives a booking up", async () => {
    const customer = await t.party("customer");
    const { booking, transporter } = await assigned(customer);
    await t.bookings.cancelBooking({ bookingId: booking.id, reason: "no driver" }, transporter.auth);
    await until("the reopen", () => eventsOf(booking.id).length === 4);
    const last = eventsOf(booking.id).find((e) => e.envelope.sequence === 4)!;
    assert.equal(last.envelope.type, "booking.reopened");
    const change = BookingStatusChanged.decode(last.envelope.payload!.value);
    assert.ok(change.reopened);
    assert.equal(change.to, BookingStatus.BOOKING_STATUS_PENDING);
    assert.equal(change.transporterId, "");
  });

  it("streams the current state, then every change; resumes after a sequence without gaps or duplicates", async () => {
    const customer = await t.party("customer");
    const { booking, driver } = await assigned(customer);
    const controller = new AbortController();
    const messages: WatchBookingResponse[] = [];
    const stream = (async () => {
      for await (const m of t.bookings.watchBooking(
        { bookingId: booking.id, afterSequence: 0 },
        { ...customer.auth, signal: controller.signal, deadlineMs: 60_000 },
      ))
        messages.push(m);
    })().catch(() => undefined);
    await until("the current state", () => messages.length === 1);
    assert.equal(messages[0]!.sequence, 3);
    assert.equal(messages[0]!.booking!.status, BookingStatus.BOOKING_STATUS_ASSIGNED);
    assert.equal(messages[0]!.booking!.pickupCode, booking.pickupCode);
    const step = (status: BookingStatus, code = "") =>
      t.bookings.updateBookingStatus({ bookingId: booking.id, status, code }, driver.auth);
    await step(BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE);
    await step(BookingStatus.BOOKING_STATUS_AT_PICKUP);
    await step(BookingStatus.BOOKING_STATUS_IN_TRANSIT, booking.pickupCode);
    await until("three changes", () => messages.length === 4);
    assert.deepEqual(
      messages.slice(1).map((m) => [m.sequence, m.change!.to]),
      [
        [4, BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE],
        [5, BookingStatus.BOOKING_STATUS_AT_PICKUP],
        [6, BookingStatus.BOOKING_STATUS_IN_TRANSIT],
      ],
    );
    controller.abort();
    await stream;

    // Resume after 2: the state, then 3..6 exactly once each, then the stream ends at COMPLETED.
    await step(BookingStatus.BOOKING_STATUS_AT_DROPOFF);
    await step(BookingStatus.BOOKING_STATUS_COMPLETED, booking.deliveryCode);
    const resumed: WatchBookingResponse[] = [];
    for await (const m of t.bookings.watchBooking(
      { bookingId: booking.id, afterSequence: 2 },
      { ...customer.auth, deadlineMs: 10_000 },
    ))
      resumed.push(m);
    assert.equal(resumed[0]!.booking!.status, BookingStatus.BOOKING_STATUS_COMPLETED);
    assert.deepEqual(
      resumed.slice(1).map((m) => m.sequence),
      [3, 4, 5, 6, 7, 8],
    );

    const stranger = await t.party("customer");
    await assert.rejects(
      async () => {
        for await (const _ of t.bookings.watchBooking(
          { bookingId: booking.id, afterSequence: 0 },
          { ...stranger.auth, deadlineMs: 5000 },
        ))
          void _;
      },
      (error: { code?: number }) => error.code === 5,
    );
  });

  it("delivers every committed booking's event exactly once after the relay was stopped and restarted", async () => {
    await t.booking.relay.stop();
    const customer = await t.party("customer");
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { order } = await t.bookings.createBooking(
        await t.request(customer, {}, { vehicleCount: 2 }),
        customer.auth,
      );
      ids.push(...order!.bookings.map((b) => b.id));
    }
    assert.ok((await t.booking.relay.pending()) >= 10);
    await sleep(300);
    assert.equal(ids.filter((id) => eventsOf(id).length > 0).length, 0, "nothing is published while the relay is down");
    t.booking.relay.start();
    await until("all ten created events", () => ids.every((id) => eventsOf(id).length === 1));
    await sleep(300); // time for a duplicate to arrive, if the relay sent one
    for (const id of ids) assert.equal(eventsOf(id).length, 1, `exactly once for ${id}`);
    assert.equal(await t.booking.relay.pending(), 0);
  });

  it("broadcasts a scheduled booking only when its time comes", async () => {
    const customer = await t.party("customer");
    const soon = new Date(Date.now() + 60 * 60_000 + 1500);
    const later = new Date(Date.now() + 3 * 60 * 60_000);
    const first = await t.bookings.createBooking(
      await t.request(customer, { scheduledAt: soon }, { scheduledAt: soon }),
      customer.auth,
    );
    const second = await t.bookings.createBooking(
      await t.request(customer, { scheduledAt: later }, { scheduledAt: later }),
      customer.auth,
    );
    const soonId = first.order!.bookings[0]!.id;
    const laterId = second.order!.bookings[0]!.id;
    await sleep(500);
    assert.equal(eventsOf(soonId).length, 0, "not broadcast before scheduled_at − lead");
    await until("the scheduled broadcast", () => eventsOf(soonId).length === 1, 10_000);
    assert.equal(eventsOf(soonId)[0]!.envelope.type, "booking.created");
    assert.equal(eventsOf(laterId).length, 0);
    // Moving the clock past the second one's broadcast time releases it once.
    t.shiftClock(2 * 60 * 60_000);
    try {
      await until("the later broadcast", () => eventsOf(laterId).length === 1, 10_000);
    } finally {
      t.shiftClock(-2 * 60 * 60_000);
    }
    await sleep(500); // time for a second broadcast to arrive, if there were one
    assert.equal(eventsOf(laterId).length, 1);
    assert.equal(eventsOf(soonId).length, 1);
  });
});
