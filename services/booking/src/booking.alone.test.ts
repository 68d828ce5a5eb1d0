/**
 * Booking alone, against a fake pricing on its mesh (QuoteRedemptionService played by the test,
 * over mutual TLS as pricing): an order books on the terms pricing redeemed; pricing's refusal
 * reaches the customer unchanged; pricing down is UNAVAILABLE; and NATS refusing booking's
 * publishes (its stream gone) loses no event: the outbox keeps it until the stream is back.
 * Booking with the real pricing runs in the system's suites (system/src/booking).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { v7 as uuidv7 } from "uuid";
import { TokenIssuer } from "@weelo/auth";
import {
  BookingServiceService,
  type CreateBookingRequest,
} from "@weelo/contracts/grpc/weelo/booking/v1/booking_service";
import type { EventMessage } from "@weelo/bus";
import { Quote } from "@weelo/contracts/grpc/weelo/pricing/v1/pricing";
import { QuoteRedemptionServiceService } from "@weelo/contracts/grpc/weelo/pricing/v1/quote_redemption_service";
import { FailedPreconditionError, GrpcCode } from "@weelo/errors";
import { createClient, EPHEMERAL_LOOPBACK, type CallOptions, type ServiceClient } from "@weelo/grpc";
import { createPlatform, type Platform } from "@weelo/runtime";
import { failure, isolatedTestEnvironment, until } from "@weelo/testing";
import { fakeService, startFakeUpstream, type FakeUpstream } from "@weelo/testing/fake-upstream";
import { loadBookingConfig, type BookingConfig } from "./booking.config.js";
import { startBooking, type BookingModule } from "./booking.module.js";

const PICKUP = { lat: 19.076, lng: 72.8777 };
const DROP = { lat: 19.2183, lng: 72.9781 };
const FARE_PAISE = 412_300;

/** What pricing answers for a quote it redeems: the terms the order books on. */
const redeemed = () => ({
  quote: Quote.fromPartial({
    id: uuidv7(),
    vehicleType: "lcv_14ft",
    vehicleCount: 1,
    pickup: PICKUP,
    drop: DROP,
    distanceM: 21_000,
    perVehicle: { totalPaise: FARE_PAISE },
  }),
  redeemedAt: new Date(),
});

const address = (location: { lat: number; lng: number }) => ({
  line1: "12 MG Road",
  line2: "",
  landmark: "",
  city: "Mumbai",
  state: "Maharashtra",
  pincode: "400001",
  location,
  contactName: "Asha Patel",
  contactPhone: "9876543210",
});

describe("booking alone: pricing's answers, pricing down, NATS refusing a publish", () => {
  let platform: Platform;
  let config: Readonly<BookingConfig>;
  let module: BookingModule;
  let pricing: FakeUpstream;
  let bookings: ServiceClient<typeof BookingServiceService>;
  let customer: CallOptions;
  let cleanup: () => Promise<void>;
  /** Quote tokens pricing refuses as already used. */
  const used = new Set<string>();
  /** The mesh identities RedeemQuote was called as. */
  const callers: (string | undefined)[] = [];

  before(async () => {
    const isolated = await isolatedTestEnvironment();
    const s = isolated.suffix;
    const env = {
      ...isolated.env,
      BOOKING_STREAM: `t_${s}_BOOKING`,
      BOOKING_SUBJECT_ROOT: `t_${s}_booking`,
      OUTBOX_POLL_MS: "100",
    };
    const loaded = loadBookingConfig(env);
    platform = await createPlatform(loaded, { name: "booking-alone-test" });
    cleanup = async () => {
      await pricing?.stop();
      await platform.bus.deleteStream(loaded.BOOKING_STREAM).catch(() => false);
      await platform.shutdown();
      await isolated.cleanup(["booking"]);
    };
    pricing = await startFakeUpstream(
      [
        fakeService(QuoteRedemptionServiceService, {
          redeemQuote: ({ quoteToken }, call) => {
            callers.push(call.caller);
            if (used.has(quoteToken))
              throw new FailedPreconditionError("the quote was booked already", { reason: "QUOTE_ALREADY_USED" });
            return redeemed();
          },
        }),
      ],
      { mesh: platform.mesh },
    );
    config = Object.freeze({ ...loaded, PRICING_GRPC_URL: pricing.address });
    module = await startBooking(platform, config);
    const { publicPort } = await platform.grpc.listen(EPHEMERAL_LOOPBACK);
    bookings = createClient(BookingServiceService, `127.0.0.1:${publicPort}`, { deadlineMs: 10_000 });
    const { token } = await new TokenIssuer(platform.keys).issueAccessToken({
      userId: uuidv7(),
      role: "customer",
      sessionId: uuidv7(),
    });
    customer = { metadata: { authorization: `Bearer ${token}` } };
  });

  after(async () => {
    bookings?.close();
    await cleanup?.();
  });

  const request = (quoteToken = `quote-${uuidv7()}`): CreateBookingRequest => ({
    quoteToken,
    pickup: address(PICKUP),
    drop: address(DROP),
    vehicleType: "lcv_14ft",
    vehicleCount: 1,
    goodsType: "furniture",
    weightKg: 1200,
    scheduledAt: undefined,
    notes: "",
    idempotencyKey: uuidv7(),
  });

  it("books an order at the fare pricing redeemed, asking pricing as booking", async () => {
    const { order } = await bookings.createBooking(request(), customer);
    assert.equal(order!.bookings.length, 1);
    assert.equal(order!.bookings[0]!.farePaise, FARE_PAISE);
    assert.ok(pricing.calls.includes("RedeemQuote"));
    assert.deepEqual([...new Set(callers)], ["booking"]);
  });

  it("passes pricing's refusal to the customer unchanged: FAILED_PRECONDITION QUOTE_ALREADY_USED", async () => {
    const token = `quote-${uuidv7()}`;
    used.add(token);
    const refused = await failure(bookings.createBooking(request(token), customer));
    assert.equal(refused.code, GrpcCode.FAILED_PRECONDITION);
    assert.equal(refused.reason, "QUOTE_ALREADY_USED");
  });

  it("answers UNAVAILABLE while pricing is down, and books again once it is back", async () => {
    const port = pricing.port;
    await pricing.stop();
    const refused = await failure(bookings.createBooking(request(), customer));
    assert.equal(refused.code, GrpcCode.UNAVAILABLE);
    pricing = await startFakeUpstream(
      [
        fakeService(QuoteRedemptionServiceService, {
          redeemQuote: redeemed,
        }),
      ],
      { mesh: platform.mesh, port },
    );
    let booked = false;
    await until(
      "booking again once pricing is back",
      async () => {
        booked = Boolean((await bookings.createBooking(request(), customer).catch(() => undefined))?.order);
        return booked;
      },
      20_000,
      200,
    );
  });

  it("keeps booking.created in the outbox while NATS refuses the publish (no stream), and sends it once the stream is back", async () => {
    await until("the outbox empty", async () => (await module.relay.pending()) === 0);
    await platform.bus.deleteStream(config.BOOKING_STREAM);
    const { order } = await bookings.createBooking(request(), customer);
    const bookingId = order!.bookings[0]!.id;
    // Several relay rounds (every 100 ms) are refused by NATS: the event stays, nothing is lost.
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.ok((await module.relay.pending()) >= 1, "the refused event is still in the outbox");
    await platform.bus.ensureStream({ name: config.BOOKING_STREAM, subjects: [`${config.BOOKING_SUBJECT_ROOT}.>`] });
    await until("the outbox drained", async () => (await module.relay.pending()) === 0, 20_000);
    const seen: EventMessage[] = [];
    const consumer = await platform.bus.consume({
      stream: config.BOOKING_STREAM,
      durable: `t_${uuidv7().replaceAll("-", "")}`,
      handler: (msg) => void seen.push(msg),
    });
    try {
      await until("booking.created on the stream", () =>
        seen.some((m) => m.subject === `${config.BOOKING_SUBJECT_ROOT}.created`),
      );
    } finally {
      await consumer.stop();
    }
    assert.ok(
      seen.some((m) => m.subject.endsWith(".created") && m.data.length > 0),
      `the event of booking ${bookingId} was published`,
    );
  });
});
