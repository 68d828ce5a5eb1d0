import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  bookingRef,
  isStale,
  needsSmsFallback,
  planCancelled,
  planReassigned,
  planDriverDark,
  planGeofence,
  planOfferAccepted,
  planOfferCreated,
  planOfferWithdrawn,
  planStatusChanged,
  planWaveSent,
  render,
  rupees,
  smsText,
  KINDS,
  type StatusChange,
} from "./notification.rules.js";

const BOOKING = "019ab3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b";
const CUSTOMER = "019ab3c4-0000-7000-8000-000000000001";
const DRIVER = "019ab3c4-0000-7000-8000-000000000002";
const change = (to: StatusChange["to"], extra: Partial<StatusChange> = {}): StatusChange => ({
  bookingId: BOOKING,
  to,
  customerId: CUSTOMER,
  driverUserId: DRIVER,
  cancellationFeePaise: 0,
  ...extra,
});

describe("notification rules", () => {
  it("tells the customer of the steps that matter and the driver of an assignment", () => {
    assert.deepEqual(
      planStatusChanged(change("confirmed")).map((m) => [m.recipientId, m.kind]),
      [[CUSTOMER, "booking_confirmed"]],
    );
    assert.deepEqual(
      planStatusChanged(change("assigned")).map((m) => [m.recipientId, m.kind]),
      [
        [CUSTOMER, "driver_assigned"],
        [DRIVER, "new_assignment"],
      ],
    );
    assert.deepEqual(planStatusChanged(change("driver_en_route")), []);
    for (const [to, kind] of [
      ["at_pickup", "driver_at_pickup"],
      ["in_transit", "trip_started"],
      ["at_dropoff", "driver_at_dropoff"],
      ["completed", "delivered"],
    ] as const) {
      assert.deepEqual(
        planStatusChanged(change(to)).map((m) => m.kind),
        [kind],
      );
    }
    // An assignment without a driver account (an old event) still reaches the customer.
    assert.deepEqual(
      planStatusChanged(change("assigned", { driverUserId: "" })).map((m) => m.recipientId),
      [CUSTOMER],
    );
  });

  it("tells customer and driver of a cancellation, with the fee in rupees", () => {
    const messages = planCancelled(change("cancelled", { cancellationFeePaise: 125_050 }));
    assert.deepEqual(
      messages.map((m) => [m.recipientId, m.kind]),
      [
        [CUSTOMER, "booking_cancelled"],
        [DRIVER, "trip_cancelled"],
      ],
    );
    assert.equal(messages[0]!.params.fee, "₹1,250.50");
    assert.match(render("booking_cancelled", "en", messages[0]!.params).body, /fee of ₹1,250\.50/);
    assert.equal(planCancelled(change("cancelled", { driverUserId: "" })).length, 1);
  });

  it("tells the customer of a cancellation by operations, with the reason, in English and Hindi", () => {
    const [customer] = planCancelled(
      change("cancelled", { actorRole: "ops", reason: "the address could not be reached" }),
    );
    assert.equal(customer!.params.by_ops, "1");
    assert.equal(
      render("booking_cancelled", "en", customer!.params).body,
      `Weelo support cancelled booking ${bookingRef(BOOKING)}: the address could not be reached You will not be charged.`,
    );
    assert.match(render("booking_cancelled", "hi", customer!.params).body, /Weelo सहायता टीम ने बुकिंग .* रद्द कर दी है/);
    assert.equal(planCancelled(change("cancelled", { reason: "customer's own" }))[0]!.params.reason, undefined);
  });

  it("tells the customer, the new driver and the released driver of a reassignment", () => {
    const OLD = "019ab3c4-5d6e-7f80-9a1b-0000000000d0";
    const messages = planReassigned(change("assigned", { actorRole: "ops", previousDriverUserId: OLD }));
    assert.deepEqual(
      messages.map((m) => [m.recipientId, m.kind]),
      [
        [CUSTOMER, "driver_assigned"],
        [DRIVER, "new_assignment"],
        [OLD, "trip_cancelled"],
      ],
    );
    assert.match(
      render("driver_assigned", "en", messages[0]!.params).body,
      /new driver and truck .* codes stay the same/,
    );
    assert.match(render("driver_assigned", "hi", messages[0]!.params).title, /नया ड्राइवर/);
    assert.match(render("trip_cancelled", "en", messages[2]!.params).body, /given to another driver/);
    assert.match(render("trip_cancelled", "hi", messages[2]!.params).body, /दूसरे ड्राइवर/);
  });

  it("pushes an offer only to a transporter who is not watching offers", () => {
    const ORDER = "019ab3c4-5d6e-7f80-9a1b-00000000beef";
    const offer = {
      offerId: "o1",
      orderId: ORDER,
      bookingIds: [BOOKING],
      transporterId: CUSTOMER,
      farePaise: 450_000,
      pickupCity: "Pune",
      dropCity: "Mumbai",
    };
    assert.equal(planOfferCreated({ ...offer, transporterOnline: true }).length, 0);
    const [message] = planOfferCreated({ ...offer, transporterOnline: false });
    assert.equal(message!.kind, "new_offer");
    assert.equal(message!.bookingId, BOOKING);
    assert.equal(
      render("new_offer", "en", message!.params).body,
      `A new booking ${bookingRef(ORDER)} worth ₹4,500 is waiting. Open Weelo to accept it. (Pune → Mumbai)`,
    );
    // A wave names many offers: pushes only to the transporters not watching live.
    const wave = planWaveSent({
      orderId: ORDER,
      bookingIds: [BOOKING],
      farePaise: 450_000,
      offers: [
        { offerId: "o1", transporterId: CUSTOMER, transporterOnline: false },
        { offerId: "o2", transporterId: DRIVER, transporterOnline: true },
        { offerId: "o3", transporterId: BOOKING, transporterOnline: false },
      ],
    });
    assert.deepEqual(
      wave.map((m) => [m.recipientId, m.kind, m.params.offer_id]),
      [
        [CUSTOMER, "new_offer", "o1"],
        [BOOKING, "new_offer", "o3"],
      ],
    );
    // An order of several trucks names no single booking.
    assert.equal(planOfferWithdrawn({ ...offer, bookingIds: [BOOKING, DRIVER] })[0]!.bookingId, "");
    assert.equal(planOfferAccepted(offer)[0]!.kind, "offer_accepted");
  });

  it("renders every kind in Hindi, in Devanagari, with the booking reference", () => {
    const params = {
      ref: bookingRef(BOOKING),
      stop: "drop",
      silent_minutes: "5",
      fee: "₹100",
      pickup_city: "पुणे",
      drop_city: "मुंबई",
    };
    for (const kind of KINDS) {
      const hi = render(kind, "hi", params);
      const en = render(kind, "en", params);
      assert.match(hi.title, /[\u0900-\u097F]/, `${kind} has a Hindi title`);
      assert.match(hi.body, /[\u0900-\u097F]/, `${kind} has a Hindi body`);
      assert.ok(hi.body.includes(params.ref), `${kind} names the booking`);
      assert.notEqual(hi.body, en.body);
    }
    assert.equal(render("driver_assigned", "hi", params).title, "ड्राइवर तय");
    const arrived = planGeofence({ bookingId: BOOKING, customerId: CUSTOMER, arrived: true, stop: "drop" })[0]!;
    assert.equal(
      render(arrived.kind, "hi", arrived.params).body,
      `बुकिंग ${bookingRef(BOOKING)} का ट्रक डिलीवरी स्थान पर पहुँच गया है।`,
    );
    // Anything but Hindi is English.
    assert.equal(render("delivered", "xx", params).title, "Delivered");
  });

  it("words the driver-dark alert in minutes and the SMS as one line", () => {
    const [dark] = planDriverDark({ bookingId: BOOKING, transporterId: CUSTOMER, silentSeconds: 610 });
    assert.equal(dark!.params.silent_minutes, "10");
    assert.equal(smsText({ title: "Driver assigned", body: "Track it." }), "Weelo: Driver assigned. Track it.");
    assert.equal(rupees(100), "₹1");
    assert.equal(rupees(12_345_678_90), "₹1,23,45,678.90");
  });

  it("keeps old events out of pushes and SMS", () => {
    const now = new Date("2026-11-26T10:00:00Z");
    assert.equal(isStale(new Date("2026-11-26T08:59:00Z"), now, 3_600_000), true);
    assert.equal(isStale(new Date("2026-11-26T09:30:00Z"), now, 3_600_000), false);
    assert.equal(isStale(undefined, now, 3_600_000), false);
  });

  it("falls back to SMS only for critical messages that reached no device", () => {
    assert.equal(needsSmsFallback("driver_assigned", "unavailable"), true);
    assert.equal(needsSmsFallback("driver_assigned", { delivered: 0, invalidTokens: ["t"], failed: 0 }), true);
    assert.equal(needsSmsFallback("driver_assigned", { delivered: 1, invalidTokens: [], failed: 1 }), false);
    assert.equal(needsSmsFallback("driver_at_dropoff", { delivered: 0, invalidTokens: [], failed: 0 }), true);
    assert.equal(needsSmsFallback("booking_confirmed", "unavailable"), false);
  });
});
