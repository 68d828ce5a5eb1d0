/**
 * PricingService over real gRPC: a platform (embedded defaults, or the real Postgres, Redis
 * and NATS when their URLs are set) with the pricing module on port 0, an OSRM stand-in for
 * road distances, and a grpc-js client sending access tokens the way the gateway forwards them.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, beforeEach, describe, it } from "node:test";
import { v7 as uuidv7, version as uuidVersion } from "uuid";
import { TokenIssuer, type Role } from "@weelo/auth";
import { DistanceSource, BodyType } from "@weelo/contracts/grpc/weelo/pricing/v1/pricing";
import { PricingServiceService, type GetQuoteRequest } from "@weelo/contracts/grpc/weelo/pricing/v1/pricing_service";
import { QuoteRedemptionServiceService } from "@weelo/contracts/grpc/weelo/pricing/v1/quote_redemption_service";
import { DomainError, GrpcCode } from "@weelo/errors";
import { createClient, createMeshClient, EPHEMERAL_LOOPBACK, type ServiceClient } from "@weelo/grpc";
import { createPlatform, type Platform } from "@weelo/runtime";
import { isolatedTestEnvironment, until } from "@weelo/testing";
import { loadPricingConfig, type PricingConfig } from "./pricing.config.js";
import { startPricing } from "./pricing.module.js";
import { computeFare, isNightTime, istMinuteOfDay, parseClockTime } from "./pricing.rules.js";
import type { PricingDatabase } from "./pricing.table.js";
import { pricingMigrations } from "./migrations/index.js";
import { signQuoteToken, verifyQuoteToken } from "./quote-token.js";

const SECRET = "grpc-test-quote-secret-0123456789abcdef";
/** Connaught Place → Okhla Industrial Area, New Delhi. */
const PICKUP = { lat: 28.6315, lng: 77.2167 };
const DROP = { lat: 28.5355, lng: 77.271 };
const ROAD = { distance: 15_432.4, duration: 2_105.6 };
const NIGHT = { startMinute: parseClockTime("22:00"), endMinute: parseClockTime("06:00") };

describe("PricingService over gRPC", () => {
  let routing: Server;
  let routingMode: "ok" | "fail" = "ok";
  let platform: Platform;
  let config: Readonly<PricingConfig>;
  let client: ServiceClient<typeof PricingServiceService>;
  let redemption: ServiceClient<typeof QuoteRedemptionServiceService>;
  let issuer: TokenIssuer;
  let isolated: Awaited<ReturnType<typeof isolatedTestEnvironment>> | undefined;
  /** The pricing clock: real time shifted by this much (tests that need an old quote move it back). */
  let clockShiftMs = 0;

  before(async () => {
    routing = createServer((req, res) => {
      if (routingMode === "fail" || !req.url?.startsWith("/route/v1/driving/")) return res.writeHead(500).end("boom");
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ code: "Ok", routes: [ROAD] }));
    });
    await new Promise<void>((resolve) => routing.listen(0, "127.0.0.1", resolve));
    isolated = await isolatedTestEnvironment();
    config = loadPricingConfig({
      ...isolated.env,
      QUOTE_SIGNING_SECRET: SECRET,
      QUOTES_PER_USER_PER_MINUTE: "1000",
      ROUTING_URL: `http://127.0.0.1:${(routing.address() as AddressInfo).port}`,
      ROUTE_CACHE_TTL_S: "0",
      VEHICLE_CATALOG_TTL_S: "1",
    });
    platform = await createPlatform(config, { name: "pricing-test" });
    // Surge is tested with tracking, for its supply, in surge/surge-supply.grpc.test.ts; here nobody
    // answers the supply count (this process's mesh port serves no tracking), so quotes carry no surge.
    let ownMeshPort = 0;
    await startPricing(platform, config, {
      now: () => new Date(Date.now() + clockShiftMs),
      ownAddress: () => `127.0.0.1:${ownMeshPort}`,
    });
    const { publicPort, meshPort } = await platform.grpc.listen(EPHEMERAL_LOOPBACK);
    ownMeshPort = meshPort;
    client = createClient(PricingServiceService, `127.0.0.1:${publicPort}`, { deadlineMs: 5000 });
    // QuoteRedemptionService is internal: called over the mesh with booking's certificate, as booking does.
    redemption = createMeshClient(QuoteRedemptionServiceService, `127.0.0.1:${meshPort}`, {
      deadlineMs: 5000,
      mesh: platform.mesh,
      caller: "booking",
    });
    issuer = new TokenIssuer(platform.keys);
  });

  after(async () => {
    client?.close();
    redemption?.close();
    await platform?.shutdown();
    await new Promise<void>((resolve) => routing.close(() => resolve()));
    await isolated?.cleanup(["pricing"]);
  });

  beforeEach(() => {
    routingMode = "ok";
    clockShiftMs = 0;
  });

  /** Call options of a logged-in user of the role. */
  async function as(role: Role = "customer", userId = uuidv7()) {
    const { token } = await issuer.issueAccessToken({ userId, role, sessionId: uuidv7() });
    return { userId, options: { metadata: { authorization: `Bearer ${token}` } } };
  }

  const trip = (changes: Partial<GetQuoteRequest> = {}): GetQuoteRequest => ({
    pickup: PICKUP,
    drop: DROP,
    vehicleType: "mini_truck",
    vehicleCount: 1,
    scheduledAt: undefined,
    ...changes,
  });

  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => "OK",
      (error: unknown) =>
        error instanceof DomainError ? `${error.code}:${error.reason}:${error.field ?? ""}` : String(error),
    );

  it("lists the vehicle catalog to anyone, smallest truck first", async () => {
    const { vehicleTypes } = await client.listVehicleTypes({});
    assert.ok(vehicleTypes.length >= 8, `${vehicleTypes.length} types`);
    const ids = vehicleTypes.map((t) => t.id);
    for (const id of [
      "mini_truck",
      "pickup_8ft",
      "lcv_14ft",
      "lcv_17ft",
      "truck_19ft",
      "container_20ft",
      "container_32ft_sxl",
      "container_32ft_mxl",
      "trailer_40ft",
    ]) {
      assert.ok(ids.includes(id), `${id} is offered`);
    }
    assert.equal(new Set(ids).size, ids.length, "ids are unique");
    assert.equal(ids[0], "mini_truck");
    const capacities = vehicleTypes.map((t) => t.capacityKg);
    assert.deepEqual(
      capacities,
      [...capacities].sort((a, b) => a - b),
      "ordered by capacity",
    );
    assert.ok(capacities[0]! >= 500, "no two-wheelers");
    assert.deepEqual(vehicleTypes[0], {
      id: "mini_truck",
      displayName: "Mini Truck",
      description: "Tata Ace, Mahindra Jeeto, Maruti Super Carry: a 7 ft open deck for small loads and house shifting",
      capacityKg: 750,
      bodyType: BodyType.BODY_TYPE_OPEN,
      body: { lengthMm: 2200, widthMm: 1490, heightMm: 380 },
      fare: {
        baseFarePaise: 25_000,
        perKmPaise: 1_800,
        minBillableKm: 3,
        freeLoadingMinutes: 30,
        waitingChargePerMinutePaise: 200,
      },
    });
    for (const type of vehicleTypes) {
      assert.ok(
        type.displayName && type.fare && type.body && type.bodyType !== BodyType.BODY_TYPE_UNSPECIFIED,
        type.id,
      );
      assert.ok(
        Number.isSafeInteger(type.fare.baseFarePaise) && type.fare.perKmPaise > 0 && type.fare.minBillableKm >= 1,
        type.id,
      );
    }
  });

  it("prices a trip by road distance, signed, stored and stable", async () => {
    const { userId, options } = await as();
    const { quote, quoteToken } = await client.getQuote(trip({ vehicleType: "lcv_14ft", vehicleCount: 3 }), options);
    assert.ok(quote);
    assert.equal(uuidVersion(quote.id), 7);
    assert.equal(quote.vehicleType, "lcv_14ft");
    assert.equal(quote.vehicleCount, 3);
    assert.deepEqual(quote.pickup, PICKUP);
    assert.deepEqual(quote.drop, DROP);
    assert.equal(quote.scheduledAt, undefined);
    assert.equal(quote.distanceSource, DistanceSource.DISTANCE_SOURCE_ROAD_ROUTING);
    assert.equal(quote.distanceM, 15_432);
    assert.equal(quote.durationS, 2_106);
    assert.equal(quote.currency, "INR");
    assert.equal(quote.freeLoadingMinutes, 60);
    assert.equal(quote.waitingChargePerMinutePaise, 400);
    assert.ok(quote.createdAt && quote.expiresAt);
    assert.equal(quote.expiresAt.getTime() - quote.createdAt.getTime(), 600_000, "valid for 10 minutes");
    assert.ok(Math.abs(quote.createdAt.getTime() - Date.now()) < 5000);

    const night = isNightTime(quote.createdAt, NIGHT);
    const expected = computeFare({
      tariff: { baseFarePaise: 100_000, perKmPaise: 3_500, minBillableKm: 5 },
      distanceM: 15_432,
      night,
      nightChargeBps: 1000,
      surgeMultiplier: 1,
      gstRateBps: 500,
    });
    assert.deepEqual(quote.perVehicle, expected);
    assert.equal(expected.distanceChargePaise, 54_012, "15.432 km × ₹35");
    assert.equal(quote.orderTotalPaise, expected.totalPaise * 3);

    const claims = await verifyQuoteToken(quoteToken, SECRET, { customerId: userId });
    assert.equal(claims.quoteId, quote.id);
    assert.equal(claims.customerId, userId);
    assert.equal(claims.vehicleType, "lcv_14ft");
    assert.equal(claims.vehicleCount, 3);
    assert.deepEqual(claims.pickup, PICKUP);
    assert.deepEqual(claims.perVehicle, quote.perVehicle);
    assert.equal(claims.orderTotalPaise, quote.orderTotalPaise);
    assert.equal(claims.distanceSource, "road_routing");
    assert.equal(claims.expiresAt.getTime(), quote.expiresAt.getTime());

    const again = await client.getQuoteById({ quoteId: quote.id }, options);
    assert.deepEqual(again, { quote, quoteToken }, "the stored quote is the one given");
  });

  it("falls back to the great-circle estimate when routing fails, and says so", async () => {
    const { options } = await as();
    routingMode = "fail";
    const { quote } = await client.getQuote(trip(), options);
    assert.equal(quote?.distanceSource, DistanceSource.DISTANCE_SOURCE_GREAT_CIRCLE_ESTIMATE);
    // ≈ 10.9 km in a straight line × 1.3.
    assert.ok(quote!.distanceM > 13_000 && quote!.distanceM < 15_500, `${quote!.distanceM}`);
    assert.equal(quote!.durationS, Math.round(quote!.distanceM / (25_000 / 3600)));
  });

  it("charges the night surcharge by the scheduled pickup time in India", async () => {
    const { options } = await as();
    const at = (hourIst: number) => {
      // The next hh:00 IST at least two hours from now.
      const start = Date.now() + 2 * 3_600_000;
      const candidate = new Date(start);
      candidate.setUTCMinutes(0, 0, 0);
      while (istMinuteOfDay(candidate) !== hourIst * 60 || candidate.getTime() < start)
        candidate.setTime(candidate.getTime() + 30 * 60_000);
      return candidate;
    };
    const byNight = (await client.getQuote(trip({ scheduledAt: at(23) }), options)).quote!;
    const byDay = (await client.getQuote(trip({ scheduledAt: at(12) }), options)).quote!;
    assert.equal(byNight.scheduledAt?.getTime(), at(23).getTime());
    assert.equal(byNight.perVehicle?.night, true);
    assert.equal(byNight.perVehicle?.nightChargeBps, 1000);
    const core = byNight.perVehicle!.baseFarePaise + byNight.perVehicle!.distanceChargePaise;
    assert.equal(byNight.perVehicle?.nightChargePaise, Math.round(core / 10));
    assert.equal(byDay.perVehicle?.night, false);
    assert.equal(byDay.perVehicle?.nightChargePaise, 0);
    assert.ok(byNight.perVehicle!.totalPaise > byDay.perVehicle!.totalPaise);
  });

  it("refuses bad input with INVALID_ARGUMENT naming the field", async () => {
    const { options } = await as();
    const soon = Date.now();
    const cases: [string, GetQuoteRequest, string][] = [
      ["unknown vehicle type", trip({ vehicleType: "bike" }), "vehicle_type:VEHICLE_TYPE_UNKNOWN"],
      ["no vehicle type", trip({ vehicleType: "" }), "vehicle_type:VEHICLE_TYPE_REQUIRED"],
      ["pickup equal to drop", trip({ drop: PICKUP }), "drop:TRIP_TOO_SHORT"],
      ["drop 30 m away", trip({ drop: { lat: PICKUP.lat + 0.00027, lng: PICKUP.lng } }), "drop:TRIP_TOO_SHORT"],
      ["no pickup", trip({ pickup: undefined }), "pickup:LOCATION_REQUIRED"],
      ["pickup outside India", trip({ pickup: { lat: 51.5074, lng: -0.1278 } }), "pickup:OUTSIDE_SERVICE_AREA"],
      ["drop outside India", trip({ drop: { lat: 40.7128, lng: 74.006 } }), "drop:OUTSIDE_SERVICE_AREA"],
      ["unset pickup (0, 0)", trip({ pickup: { lat: 0, lng: 0 } }), "pickup:OUTSIDE_SERVICE_AREA"],
      ["no vehicles", trip({ vehicleCount: 0 }), "vehicle_count:VEHICLE_COUNT_OUT_OF_RANGE"],
      ["21 vehicles", trip({ vehicleCount: 21 }), "vehicle_count:VEHICLE_COUNT_OUT_OF_RANGE"],
      ["negative vehicles", trip({ vehicleCount: -2 }), "vehicle_count:VEHICLE_COUNT_OUT_OF_RANGE"],
      ["scheduled in the past", trip({ scheduledAt: new Date(soon - 3_600_000) }), "scheduled_at:SCHEDULE_IN_PAST"],
      [
        "scheduled 8 days ahead",
        trip({ scheduledAt: new Date(soon + 8 * 86_400_000) }),
        "scheduled_at:SCHEDULE_TOO_FAR",
      ],
    ];
    for (const [name, request, expected] of cases) {
      const [field, reason] = expected.split(":");
      assert.equal(
        await refusal(client.getQuote(request, options)),
        `${GrpcCode.INVALID_ARGUMENT}:${reason}:${field}`,
        name,
      );
    }
  });

  it("quotes only for a logged-in customer", async () => {
    assert.equal(await refusal(client.getQuote(trip())), `${GrpcCode.UNAUTHENTICATED}:UNAUTHENTICATED:`);
    assert.equal(
      await refusal(client.getQuote(trip(), { metadata: { authorization: "Bearer not-a-token" } })).then(
        (r) => r.split(":")[0],
      ),
      String(GrpcCode.UNAUTHENTICATED),
    );
    const transporter = await as("transporter");
    assert.equal(
      await refusal(client.getQuote(trip(), transporter.options)),
      `${GrpcCode.PERMISSION_DENIED}:ROLE_NOT_ALLOWED:`,
    );
    const driver = await as("driver");
    assert.equal(
      await refusal(client.getQuoteById({ quoteId: uuidv7() }, driver.options)),
      `${GrpcCode.PERMISSION_DENIED}:ROLE_NOT_ALLOWED:`,
    );
  });

  it("gives tokens that the booking service can check: tampered and expired ones are refused", async () => {
    const { options } = await as();
    const { quoteToken } = await client.getQuote(trip(), options);
    const [header, payload, signature] = quoteToken.split(".") as [string, string, string];
    const body = JSON.parse(Buffer.from(payload, "base64url").toString());
    body.quote.perVehicle.totalPaise = 1;
    const tampered = `${header}.${Buffer.from(JSON.stringify(body)).toString("base64url")}.${signature}`;
    assert.equal(
      await refusal(verifyQuoteToken(tampered, SECRET)),
      `${GrpcCode.INVALID_ARGUMENT}:QUOTE_INVALID:quote_token`,
    );
    assert.equal(
      await refusal(verifyQuoteToken(quoteToken, "some-other-secret-0123456789abcdefgh")),
      `${GrpcCode.INVALID_ARGUMENT}:QUOTE_INVALID:quote_token`,
    );

    clockShiftMs = -11 * 60_000; // a quote given eleven minutes ago
    const old = await client.getQuote(trip(), options);
    assert.ok(old.quote!.expiresAt!.getTime() < Date.now());
    assert.equal(
      await refusal(verifyQuoteToken(old.quoteToken, SECRET)),
      `${GrpcCode.FAILED_PRECONDITION}:QUOTE_EXPIRED:quote_token`,
    );
  });

  it("redeems a quote for exactly one order: the same key again gets its terms, any other key QUOTE_ALREADY_USED", async () => {
    const { userId, options } = await as();
    const { quote, quoteToken } = await client.getQuote(trip({ vehicleCount: 2 }), options);
    const first = await redemption.redeemQuote({ quoteToken, customerId: userId, redemptionKey: "order-a" });
    assert.deepEqual(first.quote, quote, "the stored terms, exactly as quoted");
    assert.ok(first.redeemedAt instanceof Date);
    const retry = await redemption.redeemQuote({ quoteToken, customerId: userId, redemptionKey: "order-a" });
    assert.deepEqual(retry, first, "a retry under the same key, with the first redemption time");
    assert.equal(
      await refusal(redemption.redeemQuote({ quoteToken, customerId: userId, redemptionKey: "order-b" })),
      `${GrpcCode.FAILED_PRECONDITION}:QUOTE_ALREADY_USED:quote_token`,
    );
    const database = await platform.database<PricingDatabase>("pricing", pricingMigrations);
    const stored = await database.db
      .selectFrom("quotes")
      .select(["redemption_key"])
      .where("id", "=", quote!.id)
      .executeTakeFirstOrThrow();
    assert.equal(stored.redemption_key, "order-a");
  });

  it("lets one of 10 concurrent redemptions under different keys win", async () => {
    const { userId, options } = await as();
    const { quoteToken } = await client.getQuote(trip(), options);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        refusal(redemption.redeemQuote({ quoteToken, customerId: userId, redemptionKey: `order-${i}` })),
      ),
    );
    assert.equal(results.filter((r) => r === "OK").length, 1, results.join(", "));
    assert.equal(
      results.filter((r) => r === `${GrpcCode.FAILED_PRECONDITION}:QUOTE_ALREADY_USED:quote_token`).length,
      9,
    );
  });

  it("refuses to redeem a quote it never issued, a garbled token, another customer's or an expired one", async () => {
    const { userId, options } = await as();
    const { quote, quoteToken } = await client.getQuote(trip(), options);
    // Signed with the real key (as a leaked key would allow) but never stored: pricing has no record of it.
    const claims = await verifyQuoteToken(quoteToken, SECRET);
    const forged = await signQuoteToken(
      { ...claims, quoteId: uuidv7(), perVehicle: { ...claims.perVehicle, totalPaise: 1 } },
      SECRET,
    );
    assert.equal(
      await refusal(redemption.redeemQuote({ quoteToken: forged, customerId: userId, redemptionKey: "k" })),
      `${GrpcCode.NOT_FOUND}:QUOTE_NOT_FOUND:quote_token`,
    );
    // The id of a real quote with other terms, signed with the real key: only the stored token redeems it.
    const altered = await signQuoteToken({ ...claims, perVehicle: { ...claims.perVehicle, totalPaise: 1 } }, SECRET);
    assert.equal(
      await refusal(redemption.redeemQuote({ quoteToken: altered, customerId: userId, redemptionKey: "k" })),
      `${GrpcCode.NOT_FOUND}:QUOTE_NOT_FOUND:quote_token`,
    );
    assert.equal(
      await refusal(redemption.redeemQuote({ quoteToken: "garbage", customerId: userId, redemptionKey: "k" })),
      `${GrpcCode.INVALID_ARGUMENT}:QUOTE_INVALID:quote_token`,
    );
    assert.equal(
      await refusal(redemption.redeemQuote({ quoteToken, customerId: uuidv7(), redemptionKey: "k" })),
      `${GrpcCode.PERMISSION_DENIED}:QUOTE_NOT_YOURS:quote_token`,
    );
    assert.equal(
      await refusal(redemption.redeemQuote({ quoteToken, customerId: userId, redemptionKey: "" })),
      `${GrpcCode.INVALID_ARGUMENT}:INVALID_ARGUMENT:redemption_key`,
    );
    assert.equal(
      (await redemption.redeemQuote({ quoteToken, customerId: userId, redemptionKey: "k" })).quote!.id,
      quote!.id,
      "the refusals left it unredeemed",
    );

    clockShiftMs = -11 * 60_000; // two quotes given eleven minutes ago
    const old = await client.getQuote(trip(), options);
    const oldRedeemed = await client.getQuote(trip(), options);
    clockShiftMs = -9 * 60_000;
    await redemption.redeemQuote({
      quoteToken: oldRedeemed.quoteToken,
      customerId: userId,
      redemptionKey: "before-expiry",
    });
    clockShiftMs = 0;
    assert.equal(
      await refusal(redemption.redeemQuote({ quoteToken: old.quoteToken, customerId: userId, redemptionKey: "k2" })),
      `${GrpcCode.FAILED_PRECONDITION}:QUOTE_EXPIRED:quote_token`,
    );
    assert.equal(
      await refusal(
        redemption.redeemQuote({
          quoteToken: oldRedeemed.quoteToken,
          customerId: userId,
          redemptionKey: "before-expiry",
        }),
      ),
      "OK",
      "a retry of the order that redeemed it in time still gets its terms",
    );
    assert.equal(
      await refusal(
        redemption.redeemQuote({ quoteToken: oldRedeemed.quoteToken, customerId: userId, redemptionKey: "k3" }),
      ),
      `${GrpcCode.FAILED_PRECONDITION}:QUOTE_ALREADY_USED:quote_token`,
    );
  });

  it("shows a quote only to the customer it was made for", async () => {
    const owner = await as();
    const other = await as();
    const { quote } = await client.getQuote(trip(), owner.options);
    assert.equal(
      await refusal(client.getQuoteById({ quoteId: quote!.id }, other.options)),
      `${GrpcCode.NOT_FOUND}:QUOTE_NOT_FOUND:`,
    );
    assert.equal(
      await refusal(client.getQuoteById({ quoteId: uuidv7() }, owner.options)),
      `${GrpcCode.NOT_FOUND}:QUOTE_NOT_FOUND:`,
    );
    assert.equal(
      await refusal(client.getQuoteById({ quoteId: "42" }, owner.options)),
      `${GrpcCode.INVALID_ARGUMENT}:QUOTE_ID_INVALID:quote_id`,
    );
  });

  it("follows fare changes made in the database, while given quotes keep their price", async () => {
    const { userId, options } = await as();
    const before = await client.getQuote(trip({ vehicleType: "container_20ft" }), options);
    const database = await platform.database<PricingDatabase>("pricing", pricingMigrations);
    await database.db
      .updateTable("vehicle_types")
      .set({ base_fare_paise: 300_000, updated_at: new Date() })
      .where("id", "=", "container_20ft")
      .execute();
    await until(
      "the catalog shows the new fare",
      async () =>
        (await client.listVehicleTypes({})).vehicleTypes.find((t) => t.id === "container_20ft")?.fare?.baseFarePaise ===
        300_000,
      5000,
      100,
    );
    const after = await client.getQuote(trip({ vehicleType: "container_20ft" }), options);
    assert.equal(after.quote!.perVehicle!.baseFarePaise, 300_000);
    assert.equal(before.quote!.perVehicle!.baseFarePaise, 220_000);
    const stored = await client.getQuoteById({ quoteId: before.quote!.id }, options);
    assert.deepEqual(stored.quote, before.quote, "a given quote keeps its price");
    assert.equal(
      (await verifyQuoteToken(before.quoteToken, SECRET, { customerId: userId })).perVehicle.baseFarePaise,
      220_000,
    );
    await database.db
      .updateTable("vehicle_types")
      .set({ base_fare_paise: 220_000 })
      .where("id", "=", "container_20ft")
      .execute();
    await database.close();
  });
});
