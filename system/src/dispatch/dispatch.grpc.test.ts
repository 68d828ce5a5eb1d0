/**
 * Dispatch through its gRPC API with every service it works with running for real: orders
 * broadcast in waves to transporters with live drivers and to transporters reached through
 * their base, offers on WatchOffers (also after a reconnect), races on AcceptOffer, declines,
 * driver assignment with its checks and the driver's command.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BookingStatus } from "@weelo/contracts/grpc/weelo/booking/v1/booking";
import { OfferStatus } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch";
import { DriverCommand } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking";
import { DomainError } from "@weelo/errors";
import { failure, until } from "@weelo/testing";
import { v7 as uuidv7 } from "uuid";
import { north, PUNE, startTestDispatch, type TestDispatch } from "./test-support.js";

describe("dispatch over gRPC", () => {
  let t: TestDispatch;
  before(async () => {
    // Waves long enough for a busy machine to accept within one; expiry and deadlines are in dispatch.replicas.test.ts.
    t = await startTestDispatch({ env: { WAVE_DURATION_MS: "2500" } });
  });
  after(async () => {
    await t?.stop();
  });

  const status = async (bookingId: string, customer: { auth: object }) =>
    (await t.bookings.getBooking({ bookingId }, customer.auth)).booking!.status;

  it("offers an order to a transporter with a live driver nearby, who sees it on WatchOffers, accepts, assigns; the driver is told", async () => {
    const pickup = north(PUNE, 40); // an area of its own
    const transporter = await t.transporter({ vehicles: 1 });
    await t.onlineDriver(transporter, transporter.vehicles[0]!, north(pickup, 1));
    const watch = t.watch(transporter);
    await until("the stream to catch up", () => watch.caughtUp);

    const { customer, orderId, bookingIds } = await t.book(1, pickup);
    await until("the offer on the stream", () => [...watch.open().values()].some((o) => o.orderId === orderId));
    const offer = [...watch.open().values()].find((o) => o.orderId === orderId)!;
    assert.equal(offer.vehicleCountOpen, 1);
    assert.equal(offer.wave, 1, "a driver 1 km away is reached by the first wave (3 km)");
    assert.equal(offer.status, OfferStatus.OFFER_STATUS_OPEN);

    const accepted = await t.dispatch.acceptOffer({ offerId: offer.id, vehicleCount: 1 }, transporter.auth);
    assert.deepEqual(accepted.bookingIds, bookingIds);
    assert.ok(accepted.assignBy! > new Date());
    assert.equal(await status(bookingIds[0]!, customer), BookingStatus.BOOKING_STATUS_CONFIRMED);
    await until("the stream to drop the accepted offer", () => !watch.open().has(offer.id));

    const driver = await t.driver(transporter);
    const commands: DriverCommand[] = [];
    const subscription = t.platform.bus.subscribe(
      `${t.env.TRACKING_SUBJECT_ROOT}.command.${driver.id}`,
      (msg) => void commands.push(DriverCommand.decode(msg.data)),
    );
    try {
      const assigned = await t.dispatch.assignDriver(
        { bookingId: bookingIds[0]!, driverId: driver.id, vehicleId: transporter.vehicles[0]! },
        transporter.auth,
      );
      assert.equal(assigned.driverId, driver.id);
      assert.equal(await status(bookingIds[0]!, customer), BookingStatus.BOOKING_STATUS_ASSIGNED);
      await until("the assignment command on the driver's subject", () => commands.length > 0);
      const command = commands[0]!;
      assert.equal(command.kind?.$case, "assignment");
      assert.equal(command.kind?.$case === "assignment" && command.kind.value.bookingId, bookingIds[0]);
      const again = await t.dispatch.assignDriver(
        { bookingId: bookingIds[0]!, driverId: driver.id, vehicleId: transporter.vehicles[0]! },
        transporter.auth,
      );
      assert.equal(again.bookingId, bookingIds[0], "a retry of the same assignment answers the same");
    } finally {
      subscription.unsubscribe();
      watch.close();
    }
  });

  it("20 transporters racing for one truck: exactly one wins, the others hear it is already taken", async () => {
    const pickup = north(PUNE, -40);
    const racers = await Promise.all(Array.from({ length: 20 }, () => t.transporter({ base: pickup, radiusKm: 10 })));
    const { orderId, bookingIds, customer } = await t.book(1, pickup);
    const offers = await Promise.all(racers.map((r) => t.offerFor(r, orderId)));
    const results = await Promise.allSettled(
      racers.map((r, i) => t.dispatch.acceptOffer({ offerId: offers[i]!.id, vehicleCount: 1 }, r.auth)),
    );
    const won = results.filter((r) => r.status === "fulfilled");
    assert.equal(won.length, 1, "exactly one acceptance wins");
    for (const lost of results.filter((r): r is PromiseRejectedResult => r.status === "rejected")) {
      const error = lost.reason as DomainError;
      assert.ok(error instanceof DomainError);
      assert.equal(error.code, 9, "FAILED_PRECONDITION");
      assert.equal(error.reason, "ALREADY_TAKEN");
    }
    assert.deepEqual((won[0] as PromiseFulfilledResult<{ bookingIds: string[] }>).value.bookingIds, bookingIds);
    assert.equal(await status(bookingIds[0]!, customer), BookingStatus.BOOKING_STATUS_CONFIRMED);
  });

  it("an AcceptOffer sent three times at once (a client retrying) gets one answer three times; the trucks are taken once", async () => {
    const pickup = north(PUNE, 240);
    const transporter = await t.transporter({ base: pickup, radiusKm: 10, vehicles: 2 });
    const { orderId, bookingIds } = await t.book(3, pickup);
    const offer = await t.offerFor(transporter, orderId);
    const answers = await Promise.all(
      [1, 2, 3].map(() => t.dispatch.acceptOffer({ offerId: offer.id, vehicleCount: 2 }, transporter.auth)),
    );
    for (const answer of answers) {
      assert.deepEqual(answer.bookingIds, answers[0]!.bookingIds);
      assert.equal(answer.assignBy!.getTime(), answers[0]!.assignBy!.getTime());
    }
    assert.equal(answers[0]!.bookingIds.length, 2);
    assert.ok(answers[0]!.bookingIds.every((id) => bookingIds.includes(id)));
    for (const answer of answers) assert.equal(answer.offer!.status, OfferStatus.OFFER_STATUS_ACCEPTED);
    const other = await t.transporter({ base: pickup, radiusKm: 10 });
    assert.equal((await t.offerFor(other, orderId)).vehicleCountOpen, 1, "one truck of three is still open to others");
    const different = await failure(t.dispatch.acceptOffer({ offerId: offer.id, vehicleCount: 1 }, transporter.auth));
    assert.equal(different.reason, "OFFER_ALREADY_ACCEPTED", "another count is not a retry");
  });

  it("an order of 5 trucks with 8 transporters taking 1 to 3 each: exactly 5 taken, nobody over-served", async () => {
    const pickup = north(PUNE, 80);
    const takers = await Promise.all(
      Array.from({ length: 8 }, () => t.transporter({ base: pickup, radiusKm: 10, vehicles: 3 })),
    );
    const { orderId, bookingIds, customer } = await t.book(5, pickup);
    const offers = await Promise.all(takers.map((r) => t.offerFor(r, orderId)));
    const wants = [1, 2, 3, 1, 2, 3, 2, 1];
    const results = await Promise.allSettled(
      takers.map((r, i) => t.dispatch.acceptOffer({ offerId: offers[i]!.id, vehicleCount: wants[i]! }, r.auth)),
    );
    const taken = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    const total = taken.reduce((n, r) => n + r.bookingIds.length, 0);
    assert.equal(total, 5, `exactly 5 trucks taken (got ${total})`);
    const ids = taken.flatMap((r) => r.bookingIds);
    assert.equal(new Set(ids).size, 5, "no booking handed out twice");
    assert.deepEqual([...ids].sort(), [...bookingIds].sort());
    results.forEach((r, i) => {
      if (r.status === "fulfilled")
        assert.equal(r.value.bookingIds.length, wants[i], "each winner got what they asked for");
      else assert.match((r.reason as DomainError).reason, /ALREADY_TAKEN|NOT_ENOUGH_TRUCKS_OPEN/);
    });
    for (const id of bookingIds) assert.equal(await status(id, customer), BookingStatus.BOOKING_STATUS_CONFIRMED);
  });

  it("refuses what is not the caller's: someone else's offer, a declined offer, assigning another's booking or a vehicle of the wrong type", async () => {
    const pickup = north(PUNE, -80);
    // Two trucks: once the first is assigned it is ON_TRIP at fleet, and only the second keeps
    // this transporter among those offered the next order.
    const mine = await t.transporter({ base: pickup, radiusKm: 10, vehicles: 2 });
    const other = await t.transporter({ base: pickup, radiusKm: 10, vehicles: 1 });
    const { orderId, bookingIds } = await t.book(2, pickup);
    const offer = await t.offerFor(mine, orderId);
    const otherOffer = await t.offerFor(other, orderId);
    assert.equal(offer.vehicleCountOpen, 2, "an order of 2 is offered as 2 trucks");

    assert.equal(
      (await failure(t.dispatch.acceptOffer({ offerId: offer.id, vehicleCount: 1 }, other.auth))).reason,
      "OFFER_NOT_FOUND",
    );
    assert.equal(
      (await failure(t.dispatch.acceptOffer({ offerId: offer.id, vehicleCount: 3 }, mine.auth))).reason,
      "NOT_ENOUGH_TRUCKS_OPEN",
    );
    assert.equal((await failure(t.dispatch.acceptOffer({ offerId: offer.id, vehicleCount: 0 }, mine.auth))).code, 3);

    const declined = await t.dispatch.declineOffer({ offerId: otherOffer.id, reason: "no truck free" }, other.auth);
    assert.equal(declined.offer!.status, OfferStatus.OFFER_STATUS_DECLINED);
    assert.equal(
      (await failure(t.dispatch.acceptOffer({ offerId: otherOffer.id, vehicleCount: 1 }, other.auth))).reason,
      "OFFER_DECLINED",
    );

    const accepted = await t.dispatch.acceptOffer({ offerId: offer.id, vehicleCount: 1 }, mine.auth);
    const bookingId = accepted.bookingIds[0]!;
    assert.ok(bookingIds.includes(bookingId));
    const stranger = await t.driver(other);
    assert.equal(
      (
        await failure(
          t.dispatch.assignDriver({ bookingId, driverId: stranger.id, vehicleId: other.vehicles[0]! }, other.auth),
        )
      ).reason,
      "BOOKING_NOT_FOUND",
    );
    const driver = await t.driver(mine);
    assert.equal(
      (
        await failure(
          t.dispatch.assignDriver({ bookingId, driverId: stranger.id, vehicleId: mine.vehicles[0]! }, mine.auth),
        )
      ).reason,
      "DRIVER_NOT_FOUND",
    );
    const miniTruck = await t.vehicle(mine, "mini_truck");
    assert.equal(
      (await failure(t.dispatch.assignDriver({ bookingId, driverId: driver.id, vehicleId: miniTruck }, mine.auth)))
        .reason,
      "VEHICLE_TYPE_MISMATCH",
    );
    const customerCall = await t.party("customer");
    assert.equal(
      (await failure(t.dispatch.listOffers({ status: 0, pageSize: 10, pageToken: "" }, customerCall.auth))).code,
      7,
      "customers have no offers",
    );
    await t.dispatch.assignDriver({ bookingId, driverId: driver.id, vehicleId: mine.vehicles[0]! }, mine.auth);

    // The same driver cannot drive a second active booking.
    const second = await t.book(1, pickup);
    const again = await t.offerFor(mine, second.orderId);
    const secondAccept = await t.dispatch.acceptOffer({ offerId: again.id, vehicleCount: 1 }, mine.auth);
    const busy = await failure(
      t.dispatch.assignDriver(
        { bookingId: secondAccept.bookingIds[0]!, driverId: driver.id, vehicleId: mine.vehicles[0]! },
        mine.auth,
      ),
    );
    assert.match(busy.reason, /DRIVER_BUSY|VEHICLE_BUSY/);
  });

  it("a WatchOffers stream that drops and reconnects gets every open offer again", async () => {
    const pickup = north(PUNE, 120);
    const transporter = await t.transporter({ base: pickup, radiusKm: 10 });
    const first = t.watch(transporter);
    await until("the first stream to catch up", () => first.caughtUp);
    const orders = [await t.book(1, pickup), await t.book(2, pickup), await t.book(1, pickup)];
    await until("all three offers on the first stream", () =>
      orders.every((o) => [...first.open().values()].some((x) => x.orderId === o.orderId)),
    );
    first.close();

    const again = t.watch(transporter);
    await until("the second stream to catch up", () => again.caughtUp);
    const before = again.messages.slice(
      0,
      again.messages.findIndex((m) => m.kind?.$case === "caughtUp"),
    );
    const replayed = new Set(before.flatMap((m) => (m.kind?.$case === "offer" ? [m.kind.value.orderId] : [])));
    for (const o of orders) assert.ok(replayed.has(o.orderId), "every open offer is sent before caught_up");
    const withTwo = before.find((m) => m.kind?.$case === "offer" && m.kind.value.orderId === orders[1]!.orderId);
    assert.equal(withTwo?.kind?.$case === "offer" && withTwo.kind.value.vehicleCountOpen, 2);
    again.close();
  });

  it("a booking.created delivered again opens nothing new: one offer, no second notice, the redelivery acknowledged", async () => {
    const pickup = north(PUNE, 200);
    const transporter = await t.transporter({ base: pickup, radiusKm: 10 });
    const watch = t.watch(transporter);
    await until("the stream to catch up", () => watch.caughtUp);
    const createdSubject = `${t.config.BOOKING_SUBJECT_ROOT}.created`;
    const events: Uint8Array[] = [];
    const subscription = t.platform.bus.subscribe(createdSubject, (msg) => void events.push(msg.data));
    const outcomes = async (outcome: string) =>
      (await t.platform.metrics.busMessages.get()).values
        .filter(
          (v) =>
            v.labels.direction === "in" &&
            v.labels.family === t.config.BOOKING_SUBJECT_ROOT &&
            v.labels.outcome === outcome,
        )
        .reduce((sum, v) => sum + v.value, 0);
    try {
      const first = await t.book(1, pickup);
      const offer = await t.offerFor(transporter, first.orderId);
      await until("booking.created seen", () => events.length === 1);
      const failuresBefore = (await outcomes("nak")) + (await outcomes("error"));
      // The same event again under a new message id: what a redelivery after a lost ack looks like.
      await t.platform.bus.publishEvent(createdSubject, events[0]!, { msgId: uuidv7() });
      const second = await t.book(1, pickup);
      await t.offerFor(transporter, second.orderId);
      await until("the stream to show the second order", () =>
        [...watch.open().values()].some((o) => o.orderId === second.orderId),
      );

      const listed = (
        await t.dispatch.listOffers({ status: 0, pageSize: 50, pageToken: "" }, transporter.auth)
      ).offers.filter((o) => o.orderId === first.orderId);
      assert.deepEqual(
        listed.map((o) => o.id),
        [offer.id],
        "one offer for the order",
      );
      const notices = watch.messages.filter((m) => m.kind?.$case === "offer" && m.kind.value.orderId === first.orderId);
      assert.equal(notices.length, 1, "the redelivery sent no second notice");
      assert.equal(
        (await outcomes("nak")) + (await outcomes("error")),
        failuresBefore,
        "the redelivery was handled without a failure",
      );
    } finally {
      subscription.unsubscribe();
      watch.close();
    }
  });

  it("waves widen: a transporter 8 km away is offered in the third wave, not before", async () => {
    const pickup = north(PUNE, 160);
    const near = await t.transporter({ base: north(pickup, 2), radiusKm: 30 });
    const far = await t.transporter({ base: north(pickup, 8), radiusKm: 30 });
    const { orderId } = await t.book(1, pickup);
    const nearOffer = await t.offerFor(near, orderId);
    const farOffer = await t.offerFor(far, orderId);
    const offers = (await t.dispatch.listOffers({ status: 0, pageSize: 10, pageToken: "" }, far.auth)).offers.filter(
      (o) => o.orderId === orderId,
    );
    assert.equal(offers.length, 1);
    assert.equal(offers[0]!.wave, 3, "8 km is beyond the 3 and 6 km waves");
    assert.ok(nearOffer.id !== farOffer.id);
    const nearView = (await t.dispatch.listOffers({ status: 0, pageSize: 10, pageToken: "" }, near.auth)).offers.find(
      (o) => o.orderId === orderId,
    )!;
    assert.equal(nearView.wave, 1);
  });
});
