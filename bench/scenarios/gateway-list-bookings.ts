/**
 * A customer's bookings through the gateway: ListBookings, the first page (20, newest first).
 * Each request pays what GetMe pays (Connect, token, gRPC hop) plus booking's work: one indexed
 * read of the customer's page and the encoding of 20 bookings. The customer books 20 trips
 * first (unmeasured). On the real Postgres (DATABASE_URL, default the local one), as
 * gateway-create-booking.
 */
import type { Scenario } from "../lib/scenario.js";
import { listBookingsRoute } from "./_gateway-calls.js";
import { benchDatabaseUrl } from "./_postgres.js";
import { withBenchSystem } from "./_system.js";

export default {
  name: "gateway-list-bookings",
  description: "customer Connect JSON ListBookings (a page of 20): gateway → booking (gRPC) → Postgres read",
  target: { vs: "connect-grpc-hop", ratio: 0.9 },
  start: () =>
    withBenchSystem(
      {
        DATABASE_URL: benchDatabaseUrl(),
        QUOTES_PER_USER_PER_MINUTE: "100000",
      },
      async (system) => ({
        ...(await listBookingsRoute(system, await system.loginCustomer())),
        stop: () => system.stop(),
      }),
      { readyTimeoutMs: 120_000 },
    ),
} satisfies Scenario;
