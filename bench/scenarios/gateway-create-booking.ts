/**
 * A customer's booking through the gateway on the real Postgres: CreateBooking. Each request
 * pays Connect, the token, the gRPC hop, quote verification, validation, and one transaction
 * writing the order, its booking, the status history row and the outbox row (then the relay
 * publishes the event). Judged against kysely-insert: one bare insert in the same run.
 *
 * A quote books exactly one order (pricing's RedeemQuote refuses a second with
 * QUOTE_ALREADY_USED), as an app does it: every request carries a quote of its own, minted
 * through the gateway before each measurement (`bodies`), and a new idempotency key.
 */
import type { Scenario } from "../lib/scenario.js";
import type { BenchSystem } from "./_system.js";
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

/**
 * A generous ceiling of CreateBooking's rate here: the most measured on this 2-core machine is
 * ~300 req/s. The runner mints duration × this (+ one per connection) quotes per measurement; a
 * faster machine that uses them all up gets an INVALID figure saying so, never a reused quote.
 */
const MAX_BOOKINGS_PER_S = 1_000;
/** Quote requests in flight while minting. */
const MINT_CONCURRENCY = 16;

const TRIP = { pickup: PUNE, drop: HINJEWADI, vehicleType: "lcv_14ft", vehicleCount: 1 } as const;

/** `count` fresh quotes for the customer, through the gateway's REST alias, a few at a time. */
async function mintQuoteTokens(system: BenchSystem, accessToken: string, count: number): Promise<string[]> {
  const tokens: string[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const quote = await system.post("/api/v1/quotes", TRIP, accessToken);
      tokens[i] = quote.data.quoteToken as string;
    }
  };
  await Promise.all(Array.from({ length: Math.min(MINT_CONCURRENCY, count) }, worker));
  return tokens;
}

export default {
  name: "gateway-create-booking",
  description: "customer Connect JSON CreateBooking: gateway → booking (gRPC) → Postgres transaction + outbox",
  target: { vs: "kysely-insert", ratio: 0.2 },
  start: () =>
    withBenchSystem(
      {
        // The all-in-one splits DB_POOL_MAX between its services' pools: 10 connections each.
        DATABASE_URL: benchDatabaseUrl(),
        DB_POOL_MAX: "70",
        // One customer mints every quote (thousands a measurement): pricing's per-user quote
        // limit (60 a minute by default) would stop the minting, so this system raises it.
        QUOTES_PER_USER_PER_MINUTE: "100000",
      },
      async (system) => {
        const accessToken = await system.loginCustomer();
        const bookingOf = (quoteToken: string) =>
          JSON.stringify({
            quoteToken,
            pickup: place(PUNE, "Anil Shinde"),
            drop: place(HINJEWADI, "Kavita Rao"),
            vehicleType: TRIP.vehicleType,
            vehicleCount: TRIP.vehicleCount,
            goodsType: "furniture",
            weightKg: 800,
            idempotencyKey: "[<id>]",
          });
        return {
          url: `${system.baseUrl}/weelo.booking.v1.BookingService/CreateBooking`,
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${accessToken}` },
          // A quote of its own per request (single-use), minted just before each measurement
          // (quotes live 10 minutes); each request a new idempotency key.
          bodies: {
            maxRequestsPerSec: MAX_BOOKINGS_PER_S,
            mint: async (count) => (await mintQuoteTokens(system, accessToken, count)).map(bookingOf),
          },
          idReplacement: true,
          stop: () => system.stop(),
        };
      },
    ),
} satisfies Scenario;
