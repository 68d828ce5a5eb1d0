/**
 * Dispatch through the gateway, end to end, the way the apps call it: a transporter logs in,
 * sets a base and adds a truck and a driver; a customer books; the transporter's WatchOffers
 * stream (Connect server streaming over HTTP) shows the offer; the transporter accepts it and
 * assigns the driver (Connect JSON); the customer sees the booking ASSIGNED. Strangers and
 * customers are refused.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { createClient as createConnectClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { DispatchService } from "@weelo/contracts/es/weelo/dispatch/v1/dispatch_service_pb";
import { until } from "@weelo/testing";
import { address, bearer, startTestSystem, uniquePhone, type TestSystem } from "./test-support.js";

const PICKUP = { lat: 18.5204, lng: 73.8567 };
const DROP = { lat: 18.5912, lng: 73.7389 };

describe("dispatch through the gateway", () => {
  let system: TestSystem;
  before(async () => {
    system = await startTestSystem({ OTP_RESEND_COOLDOWN_S: "0", WAVE_DURATION_MS: "5000" });
  });
  after(async () => {
    await system?.stop();
  });

  it("customer books → transporter sees the offer on WatchOffers → accepts → assigns a driver → the booking is ASSIGNED", async () => {
    const transporter = await system.login("transporter");
    const auth = bearer(transporter.accessToken);
    const profile = await system.connect(
      "/weelo.fleet.v1.TransporterService/UpdateTransporterProfile",
      { baseLocation: PICKUP, serviceRadiusKm: 20 },
      auth,
    );
    assert.equal(profile.status, 200, JSON.stringify(profile.body));
    const vehicle = await system.rest(
      "POST",
      "/api/v1/vehicles",
      {
        registrationNumber: `MH12AB${String(1000 + (process.pid % 9000))}`,
        vehicleType: "pickup_8ft",
        capacityKg: 1500,
      },
      auth,
    );
    assert.equal(vehicle.status, 201, JSON.stringify(vehicle.body));
    const vehicleId = vehicle.body.data.vehicle.id;
    const driverPhone = uniquePhone();
    const driver = await system.connect(
      "/weelo.fleet.v1.DriverService/AddDriver",
      { name: "Ramesh Kumar", phone: driverPhone, licenceNumber: "MH1220110012345" },
      auth,
    );
    assert.equal(driver.status, 200, JSON.stringify(driver.body));
    const driverId = driver.body.driver.id;
    await system.login("driver", driverPhone); // the driver app logs in once: its account is linked to the driver

    // The transporter app opens WatchOffers through the gateway.
    const watcher = createConnectClient(
      DispatchService,
      createConnectTransport({ baseUrl: system.url, httpVersion: "1.1" }),
    );
    const abort = new AbortController();
    const seen: { case: string | undefined; orderId?: string; id?: string; open?: number }[] = [];
    const watching = (async () => {
      try {
        for await (const message of watcher.watchOffers({}, { headers: auth, signal: abort.signal })) {
          const kind = message.kind;
          seen.push(
            kind.case === "offer" || kind.case === "closed"
              ? { case: kind.case, orderId: kind.value.orderId, id: kind.value.id, open: kind.value.vehicleCountOpen }
              : { case: kind.case },
          );
        }
      } catch (error) {
        if (!abort.signal.aborted) throw error;
      }
    })();
    await until("the stream to catch up", () => seen.some((m) => m.case === "caughtUp"));

    const customer = await system.login("customer");
    const quote = await system.rest(
      "POST",
      "/api/v1/quotes",
      { pickup: PICKUP, drop: DROP, vehicleType: "pickup_8ft", vehicleCount: 1 },
      bearer(customer.accessToken),
    );
    assert.equal(quote.status, 201, JSON.stringify(quote.body));
    const created = await system.rest(
      "POST",
      "/api/v1/bookings",
      {
        quoteToken: quote.body.data.quoteToken,
        pickup: address(PICKUP),
        drop: address(DROP),
        vehicleType: "pickup_8ft",
        vehicleCount: 1,
        goodsType: "furniture",
        weightKg: 800,
        idempotencyKey: randomUUID(),
      },
      bearer(customer.accessToken),
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const order = created.body.data.order;
    const bookingId = order.bookings[0].id;

    await until(
      "the offer on the transporter's stream",
      () => seen.some((m) => m.case === "offer" && m.orderId === order.id),
      15_000,
    );
    const offer = seen.find((m) => m.case === "offer" && m.orderId === order.id)!;
    assert.equal(offer.open, 1);

    const stranger = await system.login("transporter");
    const refused = await system.connect(
      "/weelo.dispatch.v1.DispatchService/AcceptOffer",
      { offerId: offer.id, vehicleCount: 1 },
      bearer(stranger.accessToken),
    );
    assert.equal(refused.status, 404, "another transporter's offer does not exist for them");
    const asCustomer = await system.connect(
      "/weelo.dispatch.v1.DispatchService/ListOffers",
      {},
      bearer(customer.accessToken),
    );
    assert.equal(asCustomer.status, 403);

    const accepted = await system.connect(
      "/weelo.dispatch.v1.DispatchService/AcceptOffer",
      { offerId: offer.id, vehicleCount: 1 },
      auth,
    );
    assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
    assert.deepEqual(accepted.body.bookingIds, [bookingId]);
    const again = await system.connect(
      "/weelo.dispatch.v1.DispatchService/AcceptOffer",
      { offerId: offer.id, vehicleCount: 1 },
      auth,
    );
    assert.equal(again.status, 200, "a retry (its first answer lost) gets the same answer");
    assert.deepEqual(again.body.bookingIds, [bookingId]);
    assert.equal(again.body.assignBy, accepted.body.assignBy);
    const more = await system.connect(
      "/weelo.dispatch.v1.DispatchService/AcceptOffer",
      { offerId: offer.id, vehicleCount: 2 },
      auth,
    );
    assert.equal(more.body.code, "failed_precondition", "not a retry: the offer was accepted for one truck");
    assert.match(more.body.message, /already accepted this offer for 1 truck/);
    await until("the stream to close the accepted offer", () =>
      seen.some((m) => m.case === "closed" && m.id === offer.id),
    );

    const assigned = await system.connect(
      "/weelo.dispatch.v1.DispatchService/AssignDriver",
      { bookingId, driverId, vehicleId },
      auth,
    );
    assert.equal(assigned.status, 200, JSON.stringify(assigned.body));
    const read = await system.rest("GET", `/api/v1/bookings/${bookingId}`, undefined, bearer(customer.accessToken));
    assert.equal(read.body.data.booking.status, "BOOKING_STATUS_ASSIGNED");
    assert.equal(read.body.data.booking.driverId, driverId);

    abort.abort();
    await watching;
  });
});
