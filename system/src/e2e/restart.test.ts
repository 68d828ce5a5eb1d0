/**
 * Restarts of the all-in-one with work due (issue 20): an order's next wave, a scheduled
 * broadcast and an assignment deadline each fall due while the process is down; the process that
 * starts on the same data does that work (and offers a new order too). Dispatch reaches booking, tracking and fleet through the process's own mesh
 * port, known only once it listens: work run (or a client made) before then must not leave
 * every later candidate search failing.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { createClient as createConnectClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { DispatchService } from "@weelo/contracts/es/weelo/dispatch/v1/dispatch_service_pb";
import { until } from "@weelo/testing";
import { address, bearer, startTestSystem, type TestSystem } from "./test-support.js";

const PICKUP = { lat: 18.5204, lng: 73.8567 };
const DROP = { lat: 18.5912, lng: 73.7389 };
/** About 5 km north of the pickup: outside the first wave (3 km), inside the second (6 km). */
const FIVE_KM_AWAY = { lat: 18.5654, lng: 73.8567 };
const WAVE_DURATION_MS = 3000;
/** A transporter that accepts must assign a driver within this, or the booking goes back to the marketplace. */
const ASSIGN_DEADLINE_MS = 3000;

describe("the all-in-one restarted with work due", () => {
  let system: TestSystem;
  before(async () => {
    system = await startTestSystem({
      OTP_RESEND_COOLDOWN_S: "0",
      WAVE_DURATION_MS: String(WAVE_DURATION_MS),
      TIMER_POLL_MS: "100",
      ASSIGN_DEADLINE_MS: String(ASSIGN_DEADLINE_MS),
      // A scheduled booking is broadcast at its pickup time, looked for every 200 ms.
      BROADCAST_LEAD_MINUTES: "0",
      SCHEDULER_POLL_MS: "200",
    });
  });
  after(async () => {
    await system?.stop();
  });

  /** A transporter with a base and one pickup_8ft truck. */
  async function transporterAt(base: { lat: number; lng: number }, plate: string) {
    const transporter = await system.login("transporter");
    const auth = bearer(transporter.accessToken);
    const profile = await system.connect(
      "/weelo.fleet.v1.TransporterService/UpdateTransporterProfile",
      { baseLocation: base, serviceRadiusKm: 20 },
      auth,
    );
    assert.equal(profile.status, 200, JSON.stringify(profile.body));
    const vehicle = await system.rest(
      "POST",
      "/api/v1/vehicles",
      { idempotencyKey: randomUUID(), registrationNumber: plate, vehicleType: "pickup_8ft", capacityKg: 1500 },
      auth,
    );
    assert.equal(vehicle.status, 201, JSON.stringify(vehicle.body));
    return transporter.phone;
  }

  /** The order ids offered to a transporter on its WatchOffers stream, until stopped. */
  function watch(phone: string) {
    const offered = new Set<string>();
    /** Offer ids by order, in the order they came. */
    const offers = new Map<string, string[]>();
    const abort = new AbortController();
    let caughtUp = false;
    const watching = (async () => {
      const { accessToken } = await system.login("transporter", phone);
      const client = createConnectClient(
        DispatchService,
        createConnectTransport({ baseUrl: system.url, httpVersion: "1.1" }),
      );
      try {
        for await (const message of client.watchOffers({}, { headers: bearer(accessToken), signal: abort.signal })) {
          if (message.kind.case === "offer") {
            const { orderId, id } = message.kind.value;
            offered.add(orderId);
            if (!offers.get(orderId)?.includes(id)) offers.set(orderId, [...(offers.get(orderId) ?? []), id]);
          }
          if (message.kind.case === "caughtUp") caughtUp = true;
        }
      } catch (error) {
        if (!abort.signal.aborted) throw error;
      }
    })();
    return {
      offered,
      offers,
      caughtUp: () => until("the stream to catch up", () => caughtUp),
      stop: async () => {
        abort.abort();
        await watching;
      },
    };
  }

  async function book(customerPhone: string, scheduledAt?: Date): Promise<string> {
    const customer = await system.login("customer", customerPhone);
    const auth = bearer(customer.accessToken);
    const when = scheduledAt ? { scheduledAt: scheduledAt.toISOString() } : {};
    const quote = await system.rest(
      "POST",
      "/api/v1/quotes",
      { pickup: PICKUP, drop: DROP, vehicleType: "pickup_8ft", vehicleCount: 1, ...when },
      auth,
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
        ...when,
      },
      auth,
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return created.body.data.order.id as string;
  }

  it("runs the wave that fell due while it was down and offers new orders", async () => {
    const near = await transporterAt(PICKUP, "MH12AB2001");
    const far = await transporterAt(FIVE_KM_AWAY, "MH12AB2002");
    const customer = (await system.login("customer")).phone;

    // First process: the order's first wave offers the near transporter; its second is due in 3 s.
    let nearWatch = watch(near);
    await nearWatch.caughtUp();
    const first = await book(customer);
    await until("the first wave's offer to the near transporter", () => nearWatch.offered.has(first), 15_000);
    const firstWaveAt = Date.now();
    await nearWatch.stop();
    // Down until the second wave is due (and a little more): it is due when the next process starts.
    system = await system.restart(firstWaveAt + WAVE_DURATION_MS + 500 - Date.now());

    // Second process, same data: the due wave reaches the far transporter...
    const farWatch = watch(far);
    await until("the due second wave's offer to the far transporter", () => farWatch.offered.has(first), 20_000);
    // ...and a new order is offered (its first wave, at the order's opening).
    nearWatch = watch(near);
    await nearWatch.caughtUp();
    const second = await book(customer);
    await until("the new order's offer to the near transporter", () => nearWatch.offered.has(second), 15_000);
    assert.ok(farWatch.offered.has(first) && nearWatch.offered.has(second));
    await farWatch.stop();
    await nearWatch.stop();
  });

  it("runs a scheduled broadcast and an assignment deadline that fell due while it was down", async () => {
    const phone = await transporterAt(PICKUP, "MH12AB2003");
    const other = await transporterAt(PICKUP, "MH12AB2004");
    const customer = (await system.login("customer")).phone;

    // Scheduled 10 s ahead (booking wants it still ahead when the order is written, on a busy
    // machine too), broadcast at that time: the process is down then.
    const pickupAt = new Date(Date.now() + 10_000);
    const order = await book(customer, pickupAt);
    system = await system.restart(pickupAt.getTime() + 1000 - Date.now());
    const offers = watch(phone);
    await until("the scheduled order's offer after the restart", () => offers.offered.has(order), 20_000);
    const offerId = offers.offers.get(order)![0]!;

    // Accepted, then no driver assigned: the deadline falls due while the process is down.
    const auth = bearer((await system.login("transporter", phone)).accessToken);
    const accepted = await system.connect(
      "/weelo.dispatch.v1.DispatchService/AcceptOffer",
      { offerId, vehicleCount: 1 },
      auth,
    );
    assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
    const assignBy = Date.parse(accepted.body.assignBy as string);
    await offers.stop();
    system = await system.restart(assignBy + 1000 - Date.now());

    // The new process reopens the booking at once and offers the order again, as a new offer.
    const watches = [watch(phone), watch(other)];
    const offeredAgain = () => watches.some((w) => (w.offers.get(order) ?? []).some((id) => id !== offerId));
    await until("the order offered again after its missed assignment deadline", offeredAgain, 20_000);
    await Promise.all(watches.map((w) => w.stop()));
    assert.ok(offeredAgain());
  });
});
