/**
 * Dispatch alone, against fake upstreams on the mesh (booking, tracking and fleet played by the
 * test, over mutual TLS as the real ones): its failure paths. A failing candidate source (tracking
 * UNAVAILABLE) leaves the wave to the other; booking refusing a confirmation (FAILED_PRECONDITION)
 * settles it as refused, never retried; booking down leaves it owed and made once booking is back.
 * The services together run in the system's suites (system/src/dispatch).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { v7 as uuidv7 } from "uuid";
import { TokenIssuer } from "@weelo/auth";
import { BookingDispatchServiceService } from "@weelo/contracts/grpc/weelo/booking/v1/booking_dispatch_service";
import { BookingCreated } from "@weelo/contracts/grpc/weelo/booking/v1/events";
import { OfferStatus } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch";
import { DispatchServiceService } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch_service";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import { FleetDirectoryServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/fleet_directory_service";
import { TrackingInternalServiceService } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking_internal_service";
import { FailedPreconditionError, UnavailableError } from "@weelo/errors";
import { createClient, EPHEMERAL_LOOPBACK, type CallOptions, type ServiceClient } from "@weelo/grpc";
import { createPlatform, type Platform } from "@weelo/runtime";
import { isolatedTestEnvironment, until } from "@weelo/testing";
import { fakeService, startFakeUpstream, type FakeService, type FakeUpstream } from "@weelo/testing/fake-upstream";
import { loadDispatchConfig, type DispatchConfig } from "./dispatch.config.js";
import { startDispatch } from "./dispatch.module.js";

const PUNE = { lat: 18.5286, lng: 73.8743 };

describe("dispatch alone: candidate sources, booking refusing and booking down", () => {
  let platform: Platform;
  let config: Readonly<DispatchConfig>;
  let cleanup: () => Promise<void>;
  let dispatch: ServiceClient<typeof DispatchServiceService>;
  let issuer: TokenIssuer;
  let tracking: FakeUpstream;
  let fleet: FakeUpstream;
  let booking: FakeUpstream;
  /** Transporters fleet answers as serving the pickup (tracking fails every search). */
  const serving: string[] = [];
  /** How the fake booking answers ConfirmBooking, per booking id. */
  const refuse = new Set<string>();
  const confirmed: string[] = [];

  const bookingFake = (): FakeService =>
    fakeService(BookingDispatchServiceService, {
      confirmBooking: ({ bookingId }) => {
        if (refuse.has(bookingId))
          throw new FailedPreconditionError("the booking is cancelled and cannot become confirmed", {
            reason: "ILLEGAL_STATUS_TRANSITION",
          });
        confirmed.push(bookingId);
        return { booking: undefined };
      },
    });

  before(async () => {
    const isolated = await isolatedTestEnvironment();
    const s = isolated.suffix;
    const env: Record<string, string | undefined> = {
      ...isolated.env,
      BOOKING_STREAM: `T_BOOKING_${s}`,
      BOOKING_SUBJECT_ROOT: `t_${s}_booking`,
      DISPATCH_STREAM: `T_DISPATCH_${s}`,
      DISPATCH_SUBJECT_ROOT: `t_${s}_dispatch`,
      DISPATCH_CONSUMER: `t_${s}_dispatch`,
      OUTBOX_POLL_MS: "100",
      TIMER_POLL_MS: "50",
      SYNC_RETRY_MS: "100",
      CLAIM_LEASE_MS: "2000",
      // Placeholders until the fakes listen (the mesh they serve on is the platform's).
      BOOKING_GRPC_URL: "127.0.0.1:1",
      TRACKING_GRPC_URL: "127.0.0.1:1",
      FLEET_GRPC_URL: "127.0.0.1:1",
    };
    config = loadDispatchConfig(env);
    platform = await createPlatform(config, { name: "dispatch-alone-test" });
    cleanup = async () => {
      for (const fake of [tracking, fleet, booking]) await fake?.stop();
      for (const stream of [config.BOOKING_STREAM, config.DISPATCH_STREAM])
        await platform.bus.deleteStream(stream).catch(() => false);
      await platform.shutdown();
      await isolated.cleanup(["dispatch"]);
    };
    const mesh = { mesh: platform.mesh };
    tracking = await startFakeUpstream(
      [
        fakeService(TrackingInternalServiceService, {
          findNearbyDrivers: () => {
            throw new UnavailableError("tracking's position store is down");
          },
        }),
      ],
      mesh,
    );
    fleet = await startFakeUpstream(
      [
        fakeService(FleetDirectoryServiceService, {
          findServingTransporters: () => ({
            transporters: serving.map((transporterId, i) => ({
              transporterId,
              distanceM: 500 + i,
              availableVehicles: 1,
            })),
          }),
        }),
      ],
      mesh,
    );
    booking = await startFakeUpstream([bookingFake()], mesh);
    config = Object.freeze({
      ...config,
      BOOKING_GRPC_URL: booking.address,
      TRACKING_GRPC_URL: tracking.address,
      FLEET_GRPC_URL: fleet.address,
    });
    // Booking's stream, as booking creates it.
    await platform.bus.ensureStream({ name: config.BOOKING_STREAM, subjects: [`${config.BOOKING_SUBJECT_ROOT}.>`] });
    const module = await startDispatch(platform, config);
    const { publicPort } = await platform.grpc.listen(EPHEMERAL_LOOPBACK);
    await module.consuming;
    dispatch = createClient(DispatchServiceService, `127.0.0.1:${publicPort}`, { deadlineMs: 10_000 });
    issuer = new TokenIssuer(platform.keys);
  });

  after(async () => {
    dispatch?.close();
    await cleanup?.();
  });

  const transporter = async (): Promise<{ id: string; auth: CallOptions }> => {
    const id = uuidv7();
    const { token } = await issuer.issueAccessToken({ userId: id, role: "transporter", sessionId: uuidv7() });
    serving.push(id);
    return { id, auth: { metadata: { authorization: `Bearer ${token}` } } };
  };

  /** Publishes booking.created as booking does, for an order of one truck. */
  const bookingCreated = async (): Promise<string> => {
    const bookingId = uuidv7();
    const payload = BookingCreated.encode({
      bookingId,
      orderId: uuidv7(),
      customerId: uuidv7(),
      vehicleType: "lcv_14ft",
      pickup: PUNE,
      drop: { lat: 18.5912, lng: 73.7389 },
      farePaise: 250_000,
      distanceM: 18_000,
      orderVehicleCount: 1,
      goodsType: "furniture",
      weightKg: 1200,
      pickupCity: "Pune",
      dropCity: "Pune",
      occurredAt: new Date(),
    }).finish();
    const envelope = EventEnvelope.encode({
      id: uuidv7(),
      type: "booking.created",
      subjectId: bookingId,
      sequence: 1,
      occurredAt: new Date(),
      payload: { typeUrl: "type.googleapis.com/weelo.booking.v1.BookingCreated", value: Buffer.from(payload) },
      requestId: "",
    }).finish();
    await platform.bus.publishEvent(`${config.BOOKING_SUBJECT_ROOT}.created`, envelope, { msgId: bookingId });
    return bookingId;
  };

  const openOffer = async (auth: CallOptions) => {
    let offers: Awaited<ReturnType<typeof dispatch.listOffers>>["offers"] = [];
    await until("the offer", async () => {
      offers = (await dispatch.listOffers({ status: OfferStatus.OFFER_STATUS_OPEN, pageSize: 10, pageToken: "" }, auth))
        .offers;
      return offers.length > 0;
    });
    return offers[0]!;
  };

  const bookingCalls = async (result: string): Promise<number> => {
    const metric = await platform.metrics.registry.getSingleMetric("weelo_dispatch_booking_calls_total")?.get();
    return (metric?.values ?? [])
      .filter((v) => v.labels.call === "confirm" && v.labels.result === result)
      .reduce((sum, v) => sum + v.value, 0);
  };

  it("offers the order from fleet's answer when tracking, the other candidate source, fails UNAVAILABLE", async () => {
    const t = await transporter();
    const searchesBefore = tracking.calls.length;
    await bookingCreated();
    const offer = await openOffer(t.auth);
    assert.equal(offer.vehicleType, "lcv_14ft");
    assert.ok(tracking.calls.length > searchesBefore, "tracking was asked, and failed");
    assert.ok(fleet.calls.includes("FindServingTransporters"));
  });

  it("settles a confirmation booking refuses with FAILED_PRECONDITION as refused, and never retries it", async () => {
    const t = await transporter();
    const bookingId = await bookingCreated();
    refuse.add(bookingId);
    const refusedBefore = await bookingCalls("refused");
    const offer = await openOffer(t.auth);
    const accepted = await dispatch.acceptOffer({ offerId: offer.id, vehicleCount: 1 }, t.auth);
    assert.deepEqual(accepted.bookingIds, [bookingId]);
    await until("the refusal settled", async () => (await bookingCalls("refused")) === refusedBefore + 1);
    const asked = booking.calls.length;
    // The poller runs every 50 ms and retries owed calls after 100 ms: a refused one is not owed.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(booking.calls.length, asked, "no retry of a refused call");
    assert.ok(!confirmed.includes(bookingId));
  });

  it("keeps a confirmation owed while booking is down (UNAVAILABLE) and makes it once booking is back", async () => {
    const t = await transporter();
    const bookingId = await bookingCreated();
    const offer = await openOffer(t.auth);
    const port = booking.port;
    await booking.stop();
    const retriesBefore = await bookingCalls("retry");
    const accepted = await dispatch.acceptOffer({ offerId: offer.id, vehicleCount: 1 }, t.auth);
    assert.deepEqual(accepted.bookingIds, [bookingId], "the transporter's acceptance stands while booking is down");
    await until("a failed confirmation, owed", async () => (await bookingCalls("retry")) > retriesBefore);
    assert.ok(!confirmed.includes(bookingId));
    booking = await startFakeUpstream([bookingFake()], { mesh: platform.mesh, port });
    await until("the owed confirmation made", () => confirmed.includes(bookingId), 20_000);
  });
});
