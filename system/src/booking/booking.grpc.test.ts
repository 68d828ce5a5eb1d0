import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BookingStatus } from "@weelo/contracts/grpc/weelo/booking/v1/booking";
import { GrpcCode } from "@weelo/errors";
// Only to forge a token as a leaked key would allow; booking itself no longer reads quote tokens.
import { DEV_QUOTE_SIGNING_SECRET, signQuoteToken, verifyQuoteToken } from "@weelo/pricing";
import { v7 as uuidv7 } from "uuid";
import { failure, startTestBooking, type Party, type TestBooking } from "./test-support.js";

describe("BookingService over gRPC", () => {
  let t: TestBooking;
  before(async () => {
    t = await startTestBooking();
  });
  after(async () => {
    await t?.stop();
  });

  /** A booking taken through dispatch to ASSIGNED, with its parties. */
  async function assigned(customer?: Party) {
    const c = customer ?? (await t.party("customer"));
    const { order } = await t.bookings.createBooking(await t.request(c), c.auth);
    const booking = order!.bookings[0]!;
    const transporter = await t.party("transporter");
    const driver = await t.party("driver");
    await t.dispatch.confirmBooking({ bookingId: booking.id, transporterId: transporter.id });
    const driverId = "01900000-0000-7000-8000-00000000d001";
    const vehicleId = "01900000-0000-7000-8000-00000000e001";
    await t.dispatch.assignBooking({
      bookingId: booking.id,
      transporterId: transporter.id,
      driverId,
      driverUserId: driver.id,
      vehicleId,
    });
    return { customer: c, transporter, driver, booking };
  }

  it("creates an order of N pending bookings at the quoted fare, with codes for the customer only", async () => {
    const customer = await t.party("customer");
    const { order } = await t.bookings.createBooking(await t.request(customer, {}, { vehicleCount: 3 }), customer.auth);
    assert.equal(order!.bookings.length, 3);
    assert.equal(order!.vehicleCount, 3);
    for (const b of order!.bookings) {
      assert.equal(b.status, BookingStatus.BOOKING_STATUS_PENDING);
      assert.equal(b.sequence, 1);
      assert.match(b.pickupCode, /^\d{4}$/);
      assert.match(b.deliveryCode, /^\d{4}$/);
      assert.ok(b.farePaise > 0);
      assert.equal(b.pickup!.contactPhone, "+919876543210");
    }
    assert.equal(order!.totalFarePaise, order!.bookings[0]!.farePaise * 3);
    const fetched = await t.bookings.getOrder({ orderId: order!.id }, customer.auth);
    assert.equal(fetched.order!.bookings.length, 3);
  });

  it("answers a retry with the same order and refuses the key for another request (409)", async () => {
    const customer = await t.party("customer");
    const request = await t.request(customer, { idempotencyKey: "create-1" });
    const first = await t.bookings.createBooking(request, customer.auth);
    const again = await t.bookings.createBooking(request, customer.auth);
    assert.equal(again.order!.id, first.order!.id);
    assert.deepEqual(
      again.order!.bookings.map((b) => b.id),
      first.order!.bookings.map((b) => b.id),
    );
    const other = await failure(t.bookings.createBooking({ ...request, weightKg: 900 }, customer.auth));
    assert.equal(other.code, GrpcCode.ALREADY_EXISTS);
    assert.equal(other.reason, "IDEMPOTENCY_KEY_REUSED");
  });

  it("makes one order of 10 concurrent identical creates", async () => {
    const customer = await t.party("customer");
    const request = await t.request(customer, { idempotencyKey: "burst" });
    const results = await Promise.all(
      Array.from({ length: 10 }, () => t.bookings.createBooking(request, customer.auth)),
    );
    assert.equal(new Set(results.map((r) => r.order!.id)).size, 1);
    const orders = await t.db.selectFrom("orders").select("id").where("customer_id", "=", customer.id).execute();
    assert.equal(orders.length, 1);
  });

  it("refuses a tampered, expired, another customer's or mismatching quote, and non-customers", async () => {
    const customer = await t.party("customer");
    const request = await t.request(customer);
    const [h, p, s] = request.quoteToken.split(".");
    const tampered = await failure(
      t.bookings.createBooking(
        { ...request, quoteToken: `${h}.${p}.${s!.slice(0, -2)}${s!.endsWith("AA") ? "BB" : "AA"}` },
        customer.auth,
      ),
    );
    assert.equal(tampered.code, GrpcCode.INVALID_ARGUMENT);
    assert.equal(tampered.reason, "QUOTE_INVALID");
    const stranger = await t.party("customer");
    const notYours = await failure(t.bookings.createBooking(request, stranger.auth));
    assert.equal(notYours.reason, "QUOTE_NOT_YOURS");
    const transporter = await t.party("transporter");
    assert.equal((await failure(t.bookings.createBooking(request, transporter.auth))).code, GrpcCode.PERMISSION_DENIED);
    // A request that does not match its quote is refused (and holds the quote under its key): each on a quote of its own.
    const mismatch = await failure(
      t.bookings.createBooking({ ...(await t.request(customer)), vehicleCount: 2 }, customer.auth),
    );
    assert.equal(mismatch.reason, "QUOTE_MISMATCH");
    const far = await t.request(customer);
    const moved = await failure(
      t.bookings.createBooking(
        { ...far, drop: { ...far.drop!, location: { lat: 19.23, lng: 72.9781 } } },
        customer.auth,
      ),
    );
    assert.equal(moved.reason, "QUOTE_MISMATCH");
    t.shiftClock(3600_000);
    try {
      const expired = await failure(t.bookings.createBooking(request, customer.auth));
      assert.equal(expired.code, GrpcCode.FAILED_PRECONDITION);
      assert.equal(expired.reason, "QUOTE_EXPIRED");
    } finally {
      t.shiftClock(-3600_000);
    }
    assert.ok(
      (await t.bookings.createBooking(request, customer.auth)).order,
      "the refusals before left the quote unused",
    );
  });

  it("books a quote once: another key gets FAILED_PRECONDITION QUOTE_ALREADY_USED, the same key the same order", async () => {
    const customer = await t.party("customer");
    const request = await t.request(customer, { idempotencyKey: "first" });
    const { order } = await t.bookings.createBooking(request, customer.auth);
    for (const idempotencyKey of ["second", ""]) {
      const reused = await failure(t.bookings.createBooking({ ...request, idempotencyKey }, customer.auth));
      assert.equal(reused.code, GrpcCode.FAILED_PRECONDITION, idempotencyKey);
      assert.equal(reused.reason, "QUOTE_ALREADY_USED", idempotencyKey);
    }
    const again = await t.bookings.createBooking(request, customer.auth);
    assert.equal(again.order!.id, order!.id, "a retry under the first key still gets its order");
    const orders = await t.db.selectFrom("orders").select("id").where("quote_id", "=", order!.quoteId).execute();
    assert.deepEqual(
      orders.map((o) => o.id),
      [order!.id],
    );
  });

  it("makes exactly one order of one quote created concurrently under different keys", async () => {
    const customer = await t.party("customer");
    const request = await t.request(customer, {}, { vehicleCount: 2 });
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        t.bookings.createBooking({ ...request, idempotencyKey: `race-${i}` }, customer.auth),
      ),
    );
    const booked = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.order!] : []));
    assert.equal(booked.length, 1, "one order");
    for (const r of results) {
      if (r.status === "rejected") {
        const refused = await failure(Promise.reject(r.reason));
        assert.equal(refused.code, GrpcCode.FAILED_PRECONDITION);
        assert.equal(refused.reason, "QUOTE_ALREADY_USED");
      }
    }
    const orders = await t.db.selectFrom("orders").select("id").where("customer_id", "=", customer.id).execute();
    assert.deepEqual(
      orders.map((o) => o.id),
      [booked[0]!.id],
    );
    const bookings = await t.db.selectFrom("bookings").select("id").where("customer_id", "=", customer.id).execute();
    assert.equal(bookings.length, 2, "the order's two trucks, no more");
  });

  it("heals a redeemed quote with no order (a crash or refusal after redeem) by the same key's retry", async () => {
    const customer = await t.party("customer");
    const request = await t.request(customer, { idempotencyKey: "heal" });
    // Refused after pricing redeemed the quote under "heal", before any order was written.
    assert.equal(
      (await failure(t.bookings.createBooking({ ...request, vehicleCount: 2 }, customer.auth))).reason,
      "QUOTE_MISMATCH",
    );
    const healed = await t.bookings.createBooking(request, customer.auth);
    assert.equal(healed.order!.bookings.length, 1);
    assert.equal(
      (await failure(t.bookings.createBooking({ ...request, idempotencyKey: "other" }, customer.auth))).reason,
      "QUOTE_ALREADY_USED",
    );
  });

  it("refuses a quote pricing never issued, even one signed with pricing's key", async () => {
    const customer = await t.party("customer");
    const request = await t.request(customer);
    // What a leaked signing key allows: a well-signed token of a quote pricing has no record of, at a fare of 1 paisa.
    const claims = await verifyQuoteToken(request.quoteToken, DEV_QUOTE_SIGNING_SECRET);
    const forged = await signQuoteToken(
      { ...claims, quoteId: uuidv7(), perVehicle: { ...claims.perVehicle, totalPaise: 1 } },
      DEV_QUOTE_SIGNING_SECRET,
    );
    const refused = await failure(t.bookings.createBooking({ ...request, quoteToken: forged }, customer.auth));
    assert.equal(refused.code, GrpcCode.NOT_FOUND);
    assert.equal(refused.reason, "QUOTE_NOT_FOUND");
    const orders = await t.db.selectFrom("orders").select("id").where("customer_id", "=", customer.id).execute();
    assert.equal(orders.length, 0);
  });

  it("lists by role, newest first, page by page; strangers get NOT_FOUND", async () => {
    const customer = await t.party("customer");
    const { order } = await t.bookings.createBooking(await t.request(customer, {}, { vehicleCount: 5 }), customer.auth);
    const ids = order!.bookings.map((b) => b.id).reverse();
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await t.bookings.listBookings(
        { pageSize: 2, pageToken, status: BookingStatus.BOOKING_STATUS_UNSPECIFIED },
        customer.auth,
      );
      seen.push(...page.bookings.map((b) => b.id));
      pageToken = page.nextPageToken;
    } while (pageToken);
    assert.deepEqual(seen, ids);

    const transporter = await t.party("transporter");
    await t.dispatch.confirmBooking({ bookingId: ids[0]!, transporterId: transporter.id });
    const theirs = await t.bookings.listBookings(
      { pageSize: 0, pageToken: "", status: BookingStatus.BOOKING_STATUS_UNSPECIFIED },
      transporter.auth,
    );
    assert.deepEqual(
      theirs.bookings.map((b) => b.id),
      [ids[0]],
    );
    assert.equal(theirs.bookings[0]!.pickupCode, "", "codes are for the customer only");
    const confirmed = await t.bookings.listBookings(
      { pageSize: 0, pageToken: "", status: BookingStatus.BOOKING_STATUS_CONFIRMED },
      customer.auth,
    );
    assert.deepEqual(
      confirmed.bookings.map((b) => b.id),
      [ids[0]],
    );

    for (const role of ["customer", "transporter", "driver"] as const) {
      const stranger = await t.party(role);
      assert.equal(
        (await failure(t.bookings.getBooking({ bookingId: ids[1]! }, stranger.auth))).code,
        GrpcCode.NOT_FOUND,
      );
      assert.equal(
        (await failure(t.bookings.cancelBooking({ bookingId: ids[1]!, reason: "x" }, stranger.auth))).code,
        GrpcCode.NOT_FOUND,
      );
    }
    assert.equal(
      (await failure(t.bookings.getOrder({ orderId: order!.id }, transporter.auth))).code,
      GrpcCode.NOT_FOUND,
    );
  });

  it("runs the whole trip: dispatch, driver steps with codes, history", async () => {
    const { customer, transporter, driver, booking } = await assigned();
    const step = (status: BookingStatus, code = "") =>
      t.bookings.updateBookingStatus(
        { bookingId: booking.id, status, code, location: { lat: 19.08, lng: 72.88 } },
        driver.auth,
      );
    assert.equal(
      (
        await failure(
          t.bookings.updateBookingStatus(
            { bookingId: booking.id, status: BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE, code: "" },
            transporter.auth,
          ),
        )
      ).code,
      GrpcCode.PERMISSION_DENIED,
    );
    await step(BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE);
    const skip = await failure(step(BookingStatus.BOOKING_STATUS_AT_DROPOFF));
    assert.equal(skip.code, GrpcCode.FAILED_PRECONDITION);
    assert.match(skip.message, /DRIVER_EN_ROUTE.*AT_DROPOFF/);
    await step(BookingStatus.BOOKING_STATUS_AT_PICKUP);
    const wrong = booking.pickupCode === "0000" ? "0001" : "0000";
    assert.equal((await failure(step(BookingStatus.BOOKING_STATUS_IN_TRANSIT, wrong))).reason, "PICKUP_CODE_INVALID");
    await step(BookingStatus.BOOKING_STATUS_IN_TRANSIT, booking.pickupCode);
    assert.equal(
      (await failure(t.bookings.cancelBooking({ bookingId: booking.id, reason: "late" }, customer.auth))).reason,
      "CANCELLATION_TOO_LATE",
    );
    await step(BookingStatus.BOOKING_STATUS_AT_DROPOFF);
    const wrongDelivery = booking.deliveryCode === "0000" ? "0001" : "0000";
    assert.equal(
      (await failure(step(BookingStatus.BOOKING_STATUS_COMPLETED, wrongDelivery))).reason,
      "DELIVERY_CODE_INVALID",
    );
    const done = await step(BookingStatus.BOOKING_STATUS_COMPLETED, booking.deliveryCode);
    assert.equal(done.booking!.status, BookingStatus.BOOKING_STATUS_COMPLETED);
    assert.equal(done.booking!.sequence, 8);
    assert.equal(done.booking!.deliveryCode, "", "the driver never sees the codes");

    const { booking: seen, history } = await t.bookings.getBooking({ bookingId: booking.id }, customer.auth);
    assert.equal(seen!.pickupCode, booking.pickupCode);
    assert.deepEqual(
      history.map((h) => h.sequence),
      [1, 2, 3, 4, 5, 6, 7, 8],
    );
    assert.deepEqual(
      history.map((h) => h.to),
      [1, 2, 3, 4, 5, 6, 7, 8],
    );
    assert.equal(history[3]!.location?.lat, 19.08);
    assert.equal((await t.bookings.getBooking({ bookingId: booking.id }, driver.auth)).booking!.pickupCode, "");
  });

  it("makes one change of 50 concurrent identical transitions, and answers every one with it", async () => {
    const { driver, booking } = await assigned();
    const answers = await Promise.all(
      Array.from({ length: 50 }, () =>
        t.bookings.updateBookingStatus(
          { bookingId: booking.id, status: BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE, code: "" },
          driver.auth,
        ),
      ),
    );
    for (const answer of answers) {
      assert.equal(answer.booking!.status, BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE);
      assert.equal(answer.booking!.sequence, answers[0]!.booking!.sequence);
    }
    const history = await t.db
      .selectFrom("booking_status_history")
      .select("sequence")
      .where("booking_id", "=", booking.id)
      .execute();
    assert.equal(history.length, 4, "one change, one history row");
    // A retry later (its first answer lost) is answered the same way; a step out of order is still refused.
    assert.equal(
      (
        await t.bookings.updateBookingStatus(
          { bookingId: booking.id, status: BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE, code: "" },
          driver.auth,
        )
      ).booking!.sequence,
      answers[0]!.booking!.sequence,
    );
    assert.equal(
      (
        await failure(
          t.bookings.updateBookingStatus(
            { bookingId: booking.id, status: BookingStatus.BOOKING_STATUS_AT_DROPOFF, code: "" },
            driver.auth,
          ),
        )
      ).code,
      GrpcCode.FAILED_PRECONDITION,
    );
  });

  it("locks code entry after 5 wrong codes, even when 20 guesses race, then lets the right code in after the lock", async () => {
    const { driver, booking } = await assigned();
    const step = (status: BookingStatus, code = "") =>
      t.bookings.updateBookingStatus({ bookingId: booking.id, status, code }, driver.auth);
    await step(BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE);
    await step(BookingStatus.BOOKING_STATUS_AT_PICKUP);
    const guesses = Array.from({ length: 21 }, (_, i) => String(i).padStart(4, "0"))
      .filter((code) => code !== booking.pickupCode)
      .slice(0, 20);
    const results = await Promise.allSettled(
      guesses.map((code) => step(BookingStatus.BOOKING_STATUS_IN_TRANSIT, code)),
    );
    const reasons = results.map((r) => (r.status === "rejected" ? (r.reason as { code: number }).code : -1));
    assert.equal(
      reasons.filter((code) => code === GrpcCode.INVALID_ARGUMENT).length,
      5,
      "exactly the allowed attempts were compared",
    );
    assert.equal(reasons.filter((code) => code === GrpcCode.RESOURCE_EXHAUSTED).length, 15);

    const locked = await failure(step(BookingStatus.BOOKING_STATUS_IN_TRANSIT, booking.pickupCode));
    assert.equal(locked.reason, "TRIP_CODE_LOCKED", "even the right code waits for the lock");
    const retryAfter = locked.retryAfterSeconds ?? 0;
    assert.ok(retryAfter > 0 && retryAfter <= 15 * 60);
    const lockMs = 15 * 60_000 + 1000;
    t.shiftClock(lockMs);
    let started;
    try {
      const wrong = await failure(
        step(BookingStatus.BOOKING_STATUS_IN_TRANSIT, booking.pickupCode === "9999" ? "9998" : "9999"),
      );
      assert.match(wrong.message, /4 tries left/, "an expired lock starts a new count");
      started = await step(BookingStatus.BOOKING_STATUS_IN_TRANSIT, booking.pickupCode);
    } finally {
      t.shiftClock(-lockMs); // the quotes of later tests are signed by pricing's clock
    }
    assert.equal(started.booking!.status, BookingStatus.BOOKING_STATUS_IN_TRANSIT);
    const row = await t.db
      .selectFrom("bookings")
      .select(["code_failures", "code_locked_until"])
      .where("id", "=", booking.id)
      .executeTakeFirstOrThrow();
    assert.deepEqual(
      row,
      { code_failures: 0, code_locked_until: null },
      "the accepted code clears the count for the delivery code",
    );
  });

  it("lets one of two transporters confirm; dispatch retries are idempotent", async () => {
    const customer = await t.party("customer");
    const { order } = await t.bookings.createBooking(await t.request(customer), customer.auth);
    const [a, b] = [await t.party("transporter"), await t.party("transporter")];
    const results = await Promise.allSettled(
      [a, b].map((p) => t.dispatch.confirmBooking({ bookingId: order!.bookings[0]!.id, transporterId: p.id })),
    );
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    const winner = results[0]!.status === "fulfilled" ? a : b;
    const retry = await t.dispatch.confirmBooking({ bookingId: order!.bookings[0]!.id, transporterId: winner.id });
    assert.equal(retry.booking!.sequence, 2);
  });

  it("answers every concurrent call making the same step as made (dispatch's two replicas retrying at once)", async () => {
    const customer = await t.party("customer");
    const { order } = await t.bookings.createBooking(await t.request(customer), customer.auth);
    const bookingId = order!.bookings[0]!.id;
    const transporter = await t.party("transporter");
    // Before the fix the calls that lost the conditional update were refused (CONFIRMED cannot
    // become CONFIRMED), and dispatch took that refusal as final and dropped the booking.
    const confirms = await Promise.all(
      Array.from({ length: 6 }, () => t.dispatch.confirmBooking({ bookingId, transporterId: transporter.id })),
    );
    for (const { booking } of confirms) {
      assert.equal(booking!.status, BookingStatus.BOOKING_STATUS_CONFIRMED);
      assert.equal(booking!.sequence, 2, "one change, made once");
    }
    const expires = await Promise.allSettled(Array.from({ length: 2 }, () => t.dispatch.expireBooking({ bookingId })));
    for (const result of expires) {
      assert.equal(result.status, "rejected", "a confirmed booking does not expire");
      assert.equal(result.reason.code, GrpcCode.FAILED_PRECONDITION);
    }
  });

  it("cancels free, with a fee after assignment, and reopens when the transporter gives up", async () => {
    const customer = await t.party("customer");
    const { order } = await t.bookings.createBooking(await t.request(customer), customer.auth);
    const free = await t.bookings.cancelBooking(
      { bookingId: order!.bookings[0]!.id, reason: "plans changed" },
      customer.auth,
    );
    assert.equal(free.booking!.status, BookingStatus.BOOKING_STATUS_CANCELLED);
    assert.equal(free.cancellationFeePaise, 0);
    assert.equal(
      (await failure(t.bookings.cancelBooking({ bookingId: order!.bookings[0]!.id, reason: "" }, customer.auth)))
        .reason,
      "ALREADY_CANCELLED",
    );

    const late = await assigned();
    const fee = await t.bookings.cancelBooking(
      { bookingId: late.booking.id, reason: "found another truck" },
      late.customer.auth,
    );
    const expected = Math.min(
      late.booking.farePaise,
      Math.max(
        t.config.CANCEL_FEE_MIN_PAISE,
        Math.floor((late.booking.farePaise * t.config.CANCEL_FEE_PERCENT_BPS) / 10_000),
      ),
    );
    assert.equal(fee.cancellationFeePaise, expected);
    assert.ok(expected > 0);
    assert.equal(fee.booking!.cancellationFeePaise, expected);

    const given = await assigned();
    assert.equal(
      (await failure(t.bookings.cancelBooking({ bookingId: given.booking.id, reason: "" }, given.transporter.auth)))
        .code,
      GrpcCode.INVALID_ARGUMENT,
    );
    const reopened = await t.bookings.cancelBooking(
      { bookingId: given.booking.id, reason: "truck broke down" },
      given.transporter.auth,
    );
    assert.equal(reopened.reopened, true);
    assert.equal(reopened.booking!.status, BookingStatus.BOOKING_STATUS_PENDING);
    assert.equal(reopened.booking!.transporterId, "");
    assert.equal(reopened.booking!.driverId, "");
    // The transporter no longer sees it; the customer does.
    assert.equal(
      (await failure(t.bookings.getBooking({ bookingId: given.booking.id }, given.transporter.auth))).code,
      GrpcCode.NOT_FOUND,
    );
    const { history } = await t.bookings.getBooking({ bookingId: given.booking.id }, given.customer.auth);
    assert.equal(history.at(-1)!.reopened, true);
    assert.equal(history.at(-1)!.reason, "truck broke down");

    const viaDispatch = await assigned();
    const back = await t.dispatch.reopenBooking({
      bookingId: viaDispatch.booking.id,
      reason: "driver did not start",
      opsUserId: "",
    });
    assert.equal(back.booking!.status, BookingStatus.BOOKING_STATUS_PENDING);
    assert.equal(
      (await failure(t.dispatch.reopenBooking({ bookingId: viaDispatch.booking.id, reason: "", opsUserId: "" }))).code,
      GrpcCode.FAILED_PRECONDITION,
    );
  });
});
