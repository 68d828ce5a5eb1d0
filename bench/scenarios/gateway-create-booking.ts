/**
 * A customer's booking through the gateway on the real Postgres: CreateBooking. Each request
 * pays Connect, the token, the gRPC hop, quote verification, validation, and one transaction
 * writing the order, its booking, the status history row and the outbox row (then the relay
 * publishes the event). Judged against kysely-insert: one bare insert in the same run.
 */
import type { Scenario } from "../lib/scenario.js";
import { benchDatabaseUrl } from "./_postgres.js";
import { withBenchSystem } from "./_system.js";

const PUNE = { lat: 18.5286, lng: 73.8743 };
const HINJEWADI = { lat: 18.5912, lng: 73.7389 };
const place = (location: typeof PUNE, name: string) => ({
  line1: "Plot 12, MIDC",
  city: "Pune",
  state: "Maharashtra",
  pincode: "411001",
  location,
  contactName: name,
  contactPhone: "+919876500009",
});

export default {
  name: "gateway-create-booking",
  description: "customer Connect JSON CreateBooking: gateway → booking (gRPC) → Postgres transaction + outbox",
  target: { vs: "kysely-insert", ratio: 0.2 },
  start: () =>
    withBenchSystem(
      // The all-in-one splits DB_POOL_MAX between its services' pools: 10 connections each.
      { DATABASE_URL: benchDatabaseUrl(), DB_POOL_MAX: "70" },
      async (system) => {
        const accessToken = await system.loginCustomer();
        const quote = await system.post("/api/v1/quotes", { pickup: PUNE, drop: HINJEWADI, vehicleType: "lcv_14ft", vehicleCount: 1 }, accessToken);
        return {
          url: `${system.baseUrl}/weelo.booking.v1.BookingService/CreateBooking`,
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${accessToken}` },
          // One quote serves the whole run (it lives 10 minutes); each request a new idempotency key.
          body: JSON.stringify({
            quoteToken: quote.data.quoteToken,
            pickup: place(PUNE, "Anil Shinde"),
            drop: place(HINJEWADI, "Kavita Rao"),
            vehicleType: "lcv_14ft",
            vehicleCount: 1,
            goodsType: "furniture",
            weightKg: 800,
            idempotencyKey: "[<id>]",
          }),
          idReplacement: true,
          stop: () => system.stop(),
        };
      },
    ),
} satisfies Scenario;
