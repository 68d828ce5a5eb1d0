/**
 * Pricing through the gateway: the public, cacheable vehicle catalog (REST alias and Connect
 * GET), quotes for customers with the full breakdown, a quote that stays the same for its
 * lifetime, and bad input named by field.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DEFAULT_VEHICLE_TYPE_IDS } from "@weelo/fleet";
import { startTestSystem, type TestSystem } from "./test-support.js";

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
// Pune station to Hinjewadi: about 20 km by road.
const PUNE = { lat: 18.5286, lng: 73.8743 };
const HINJEWADI = { lat: 18.5912, lng: 73.7389 };

describe("pricing through the gateway", () => {
  let system: TestSystem;
  let customer: Awaited<ReturnType<TestSystem["login"]>>;
  before(async () => {
    system = await startTestSystem();
    customer = await system.login("customer");
  });
  after(async () => {
    await system?.stop();
  });

  it("serves the vehicle catalog to anyone, cacheable, on the REST alias and Connect GET", async () => {
    const rest = await system.rest("GET", "/api/v1/vehicle-types");
    assert.equal(rest.status, 200);
    const types = rest.body.data.vehicleTypes as {
      id: string;
      capacityKg: number;
      fare: { baseFarePaise: string; perKmPaise: string };
    }[];
    assert.ok(types.length >= 8, `${types.length} vehicle types`);
    assert.ok(types.some((t) => t.id === "mini_truck" && t.capacityKg === 750));
    for (const type of types)
      assert.ok(Number(type.fare.baseFarePaise) > 0 && Number(type.fare.perKmPaise) > 0, type.id);
    assert.match(rest.headers.get("cache-control") ?? "", /public, max-age=\d+/);
    assert.deepEqual(
      types.map((t) => t.id).sort(),
      [...DEFAULT_VEHICLE_TYPE_IDS].sort(),
      "fleet's fallback list is pricing's catalog",
    );

    const message = encodeURIComponent("{}");
    const get = await fetch(
      `${system.url}/weelo.pricing.v1.PricingService/ListVehicleTypes?connect=v1&encoding=json&message=${message}`,
    );
    assert.equal(get.status, 200);
    assert.match(get.headers.get("cache-control") ?? "", /public, max-age=\d+/);
    assert.equal(((await get.json()) as { vehicleTypes: unknown[] }).vehicleTypes.length, types.length);
  });

  it("quotes a customer with a breakdown in paise that adds up, stable for its lifetime", async () => {
    const created = await system.rest(
      "POST",
      "/api/v1/quotes",
      { pickup: PUNE, drop: HINJEWADI, vehicleType: "lcv_14ft", vehicleCount: 3 },
      bearer(customer.accessToken),
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { quote, quoteToken } = created.body.data;
    assert.match(quoteToken, /^eyJ/);
    assert.equal(quote.vehicleCount, 3);
    assert.equal(quote.distanceSource, "DISTANCE_SOURCE_GREAT_CIRCLE_ESTIMATE");
    assert.ok(Number(quote.distanceM) > 15_000 && Number(quote.distanceM) < 30_000, `distance ${quote.distanceM} m`);
    const perVehicle = quote.perVehicle;
    const subtotal = Number(perVehicle.subtotalPaise);
    assert.equal(
      subtotal,
      Number(perVehicle.baseFarePaise) +
        Number(perVehicle.distanceChargePaise) +
        Number(perVehicle.nightChargePaise ?? 0) +
        Number(perVehicle.surgeChargePaise ?? 0),
    );
    assert.equal(Number(perVehicle.totalPaise), subtotal + Number(perVehicle.gstPaise));
    assert.equal(Number(quote.orderTotalPaise), Number(perVehicle.totalPaise) * 3);
    const lifetime = Date.parse(quote.expiresAt) - Date.now();
    assert.ok(lifetime > 9 * 60_000 && lifetime <= 10 * 60_000, "a quote lives 10 minutes");

    const again = await system.rest("GET", `/api/v1/quotes/${quote.id}`, undefined, bearer(customer.accessToken));
    assert.equal(again.status, 200);
    assert.deepEqual(again.body.data.quote, quote, "the same numbers for the quote's lifetime");
    assert.equal(again.body.data.quoteToken, quoteToken);
  });

  it("names the field of bad input and keeps quotes to customers", async () => {
    const ask = (body: object, token = customer.accessToken) =>
      system.rest("POST", "/api/v1/quotes", body, bearer(token));
    const cases: [object, string][] = [
      [{ pickup: PUNE, drop: HINJEWADI, vehicleType: "spaceship", vehicleCount: 1 }, "vehicle_type"],
      [{ pickup: PUNE, drop: PUNE, vehicleType: "mini_truck", vehicleCount: 1 }, "drop"],
      [{ pickup: { lat: 51.5, lng: -0.12 }, drop: HINJEWADI, vehicleType: "mini_truck", vehicleCount: 1 }, "pickup"],
      [{ pickup: PUNE, drop: HINJEWADI, vehicleType: "mini_truck", vehicleCount: 21 }, "vehicle_count"],
    ];
    for (const [body, field] of cases) {
      const refused = await ask(body);
      assert.equal(refused.status, 400, JSON.stringify(body));
      assert.equal(refused.body.error.field, field, JSON.stringify(refused.body));
    }
    const transporter = await system.login("transporter");
    assert.equal(
      (
        await ask(
          { pickup: PUNE, drop: HINJEWADI, vehicleType: "mini_truck", vehicleCount: 1 },
          transporter.accessToken,
        )
      ).status,
      403,
    );
    assert.equal(
      (
        await system.rest("POST", "/api/v1/quotes", {
          pickup: PUNE,
          drop: HINJEWADI,
          vehicleType: "mini_truck",
          vehicleCount: 1,
        })
      ).status,
      401,
    );
  });

  it("checks vehicle types against the pricing catalog when a transporter adds a vehicle", async () => {
    const transporter = await system.login("transporter");
    const refused = await system.rest(
      "POST",
      "/api/v1/vehicles",
      { idempotencyKey: "k-unknown-type", registrationNumber: "MH12ZZ9999", vehicleType: "spaceship", capacityKg: 750 },
      bearer(transporter.accessToken),
    );
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error.field, "vehicle_type");
  });
});
