/**
 * Booking through the gateway, end to end: a customer quotes and books (REST aliases), the
 * same idempotency key gives the same order, strangers see nothing, the customer watches the
 * booking over a Connect server stream (forwarded by the gateway) while dispatch confirms
 * and assigns (internal gRPC) and the driver moves the trip to delivery with the codes.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { createClient as createConnectClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { BookingService } from "@weelo/contracts/es/weelo/booking/v1/booking_service_pb";
import { BookingDispatchServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_dispatch_service";
import { GrpcCode, httpStatusOf } from "@weelo/errors";
import type { ServiceClient } from "@weelo/grpc";
import { until } from "@weelo/testing";
import { address, bearer, HINJEWADI, PUNE, startTestSystem, uniquePhone, type TestSystem } from "./test-support.js";

describe("booking through the gateway", () => {
  let system: TestSystem;
  let dispatch: ServiceClient<typeof BookingDispatchServiceService>;
  before(async () => {
    system = await startTestSystem({ OTP_RESEND_COOLDOWN_S: "0", WATCH_POLL_MS: "100" });
    dispatch = system.platform.meshClient(BookingDispatchServiceService, `127.0.0.1:${system.meshPort}`, "dispatch");
  });
  after(async () => {
    dispatch?.close();
    await system?.stop();
  });

  async function book(customer: { accessToken: string }, vehicleCount = 1, idempotencyKey = randomUUID()) {
    const quote = await system.rest(
      "POST",
      "/api/v1/quotes",
      { pickup: PUNE, drop: HINJEWADI, vehicleType: "pickup_8ft", vehicleCount },
      bearer(customer.accessToken),
    );
    assert.equal(quote.status, 201, JSON.stringify(quote.body));
    const request = {
      quoteToken: quote.body.data.quoteToken,
      pickup: address(PUNE, "Anil Shinde"),
      drop: address(HINJEWADI, "Kavita Rao"),
      vehicleType: "pickup_8ft",
      vehicleCount,
      goodsType: "furniture",
      weightKg: 800,
      idempotencyKey,
    };
    const created = await system.rest("POST", "/api/v1/bookings", request, bearer(customer.accessToken));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return { order: created.body.data.order, request };
  }

  it("books an order of trucks from a quote, idempotently, visible only to its customer", async () => {
    const customer = await system.login("customer");
    const { order, request } = await book(customer, 2);
    assert.equal(order.bookings.length, 2);
    for (const booking of order.bookings) assert.equal(booking.status, "BOOKING_STATUS_PENDING");

    const again = await system.rest("POST", "/api/v1/bookings", request, bearer(customer.accessToken));
    assert.equal(again.body.data.order.id, order.id, "the same key and request give the same order");
    const changed = await system.rest(
      "POST",
      "/api/v1/bookings",
      { ...request, notes: "different" },
      bearer(customer.accessToken),
    );
    assert.equal(changed.status, 409);

    const read = await system.rest(
      "GET",
      `/api/v1/bookings/${order.bookings[0].id}`,
      undefined,
      bearer(customer.accessToken),
    );
    assert.equal(read.status, 200);
    assert.match(read.body.data.booking.pickupCode, /^\d{4}$/, "the customer sees the pickup code");
    const listed = await system.rest("GET", "/api/v1/bookings?pageSize=10", undefined, bearer(customer.accessToken));
    assert.deepEqual(
      listed.body.data.bookings.map((b: { id: string }) => b.id).sort(),
      order.bookings.map((b: { id: string }) => b.id).sort(),
    );

    const orderRead = await system.connect(
      "/weelo.booking.v1.BookingService/GetOrder",
      { orderId: order.id },
      bearer(customer.accessToken),
    );
    assert.equal(orderRead.status, 200, JSON.stringify(orderRead.body));
    assert.equal(orderRead.body.order.bookings.length, 2);

    const stranger = await system.login("customer");
    assert.equal(
      (await system.rest("GET", `/api/v1/bookings/${order.bookings[0].id}`, undefined, bearer(stranger.accessToken)))
        .status,
      404,
    );
    assert.equal(
      (
        await system.connect(
          "/weelo.booking.v1.BookingService/GetOrder",
          { orderId: order.id },
          bearer(stranger.accessToken),
        )
      ).status,
      404,
    );

    const cancelled = await system.rest(
      "PUT",
      `/api/v1/bookings/${order.bookings[1].id}/cancel`,
      { reason: "plans changed" },
      bearer(customer.accessToken),
    );
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
    assert.equal(cancelled.body.data.booking.status, "BOOKING_STATUS_CANCELLED");
    assert.equal(Number(cancelled.body.data.cancellationFeePaise ?? 0), 0, "free while pending");
  });

  it("books one order per quote: the quote again under another key is refused QUOTE_ALREADY_USED", async () => {
    const customer = await system.login("customer");
    const { order, request } = await book(customer);
    const reused = await system.rest(
      "POST",
      "/api/v1/bookings",
      { ...request, idempotencyKey: randomUUID() },
      bearer(customer.accessToken),
    );
    // FAILED_PRECONDITION, whose REST status comes from the one code → HTTP table (as Connect's).
    assert.equal(reused.status, httpStatusOf(GrpcCode.FAILED_PRECONDITION), JSON.stringify(reused.body));
    assert.equal(reused.body.error.code, "QUOTE_ALREADY_USED");
    const retry = await system.rest("POST", "/api/v1/bookings", request, bearer(customer.accessToken));
    assert.equal(retry.status, 201, JSON.stringify(retry.body));
    assert.equal(retry.body.data.order.id, order.id, "a retry under the first key still gets its order");
    const redeem = await system.connect(
      "/weelo.pricing.v1.QuoteRedemptionService/RedeemQuote",
      { quoteToken: request.quoteToken, customerId: customer.user.id, redemptionKey: randomUUID() },
      bearer(customer.accessToken),
    );
    assert.equal(redeem.status, httpStatusOf(GrpcCode.NOT_FOUND), "the internal redemption is not served to apps");
    assert.doesNotMatch(JSON.stringify(redeem.body ?? {}), /QUOTE_/, "no route, not pricing's answer");
  });

  it("streams every change to the customer while dispatch assigns and the driver delivers", async () => {
    const customer = await system.login("customer");
    const transporter = await system.login("transporter");
    const registration = `MH14KA${String(1000 + (process.pid % 9000))}`;
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

    const { order } = await book(customer);
    const bookingId = order.bookings[0].id as string;
    const codes = (await system.rest("GET", `/api/v1/bookings/${bookingId}`, undefined, bearer(customer.accessToken)))
      .body.data.booking;

    // The customer's app watches through the gateway (Connect server stream over HTTP/1.1).
    const watcher = createConnectClient(
      BookingService,
      createConnectTransport({ baseUrl: system.url, httpVersion: "1.1" }),
    );
    const abort = new AbortController();
    const seen: { sequence: bigint; status: number }[] = [];
    const watching = (async () => {
      try {
        for await (const message of watcher.watchBooking(
          { bookingId },
          { headers: bearer(customer.accessToken), signal: abort.signal },
        )) {
          seen.push({
            sequence: message.sequence,
            status: message.change ? message.change.to : message.booking!.status,
          });
        }
      } catch (error) {
        if (!abort.signal.aborted) throw error;
      }
    })();
    await until("the current state arrives first", () => seen.length >= 1);

    await dispatch.confirmBooking({ bookingId, transporterId: transporter.user.id });
    await dispatch.assignBooking({
      bookingId,
      transporterId: transporter.user.id,
      driverId: fleetDriver.id,
      driverUserId: driver.user.id,
      vehicleId: vehicle.id,
    });
    const move = (status: string, code?: string) =>
      system.connect(
        "/weelo.booking.v1.BookingService/UpdateBookingStatus",
        { bookingId, status, location: PUNE, ...(code ? { code } : {}) },
        bearer(driver.accessToken),
      );
    assert.equal((await move("BOOKING_STATUS_DRIVER_EN_ROUTE")).status, 200);
    // Tracking lets the driver arrive only where the driver's app last reported being.
    const report = (seq: number, at: typeof PUNE, ageMs: number) =>
      system.rest(
        "POST",
        "/api/v1/tracking/location",
        {
          points: [
            {
              seq,
              recordedAt: new Date(Date.now() - ageMs).toISOString(),
              lat: at.lat,
              lng: at.lng,
              accuracyM: 8,
              speedMps: 0,
              heading: 0,
            },
          ],
        },
        bearer(driver.accessToken),
      );
    assert.equal((await report(1, PUNE, 20 * 60_000)).status, 200);
    assert.equal((await move("BOOKING_STATUS_AT_PICKUP")).status, 200);
    const wrongCode = await move("BOOKING_STATUS_IN_TRANSIT", codes.pickupCode === "0000" ? "1111" : "0000");
    assert.notEqual(wrongCode.status, 200, "the trip starts only with the customer's pickup code");
    assert.equal((await move("BOOKING_STATUS_IN_TRANSIT", codes.pickupCode)).status, 200);
    const skip = await move("BOOKING_STATUS_COMPLETED", codes.deliveryCode);
    assert.equal(skip.status, 400);
    assert.match(skip.body.message, /IN_TRANSIT/, "an illegal transition names the current status");
    assert.equal((await report(2, HINJEWADI, 1000)).status, 200);
    assert.equal((await move("BOOKING_STATUS_AT_DROPOFF")).status, 200);
    assert.equal((await move("BOOKING_STATUS_COMPLETED", codes.deliveryCode)).status, 200);

    await until("the stream saw the delivery", () => seen.some((s) => s.status === 8 /* COMPLETED */), 10_000);
    abort.abort();
    await watching;
    const sequences = seen.map((s) => Number(s.sequence));
    assert.deepEqual(
      sequences,
      [...sequences].sort((a, b) => a - b),
      "in order",
    );
    assert.equal(new Set(sequences).size, sequences.length, "no duplicates");
    assert.deepEqual(
      seen.slice(1).map((s) => s.status),
      [2, 3, 4, 5, 6, 7, 8],
      "CONFIRMED … COMPLETED, none missing",
    );

    const strangerDriver = await system.login("customer");
    assert.equal(
      (
        await system.connect(
          "/weelo.booking.v1.BookingService/GetBooking",
          { bookingId },
          bearer(strangerDriver.accessToken),
        )
      ).status,
      404,
    );
  });
});
