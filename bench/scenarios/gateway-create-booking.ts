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
import { createBookingRoute } from "./_gateway-calls.js";
import { benchDatabaseUrl } from "./_postgres.js";
import { withBenchSystem } from "./_system.js";

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
      async (system) => ({
        ...createBookingRoute(system, await system.loginCustomer()),
        stop: () => system.stop(),
      }),
    ),
} satisfies Scenario;
