/**
 * gateway-create-booking in the deployed topology: the gateway, booking and pricing each in its
 * own process from the build (dist/), every hop on the mutual-TLS mesh port (gateway → booking,
 * booking → pricing to redeem the quote), one transaction on the real Postgres, the outbox relay
 * publishing to the real NATS (scenarios/_mesh.ts; skipped with the reason printed when the real
 * servers' URLs are not set). Judged against kysely-insert; printed beside connect-grpc-hop too.
 */
import type { Scenario } from "../lib/scenario.js";
import { createBookingRoute } from "./_gateway-calls.js";
import { withMesh } from "./_mesh.js";

export default {
  name: "gateway-create-booking-mesh",
  description: "CreateBooking in the mesh: gateway → booking → pricing processes (gRPC, mTLS) → Postgres + outbox",
  target: { vs: "kysely-insert", ratio: 0.2 },
  beside: ["connect-grpc-hop"],
  start: () =>
    withMesh(async (client, release) => ({
      ...createBookingRoute(client, await client.loginCustomer()),
      stop: release,
    })),
} satisfies Scenario;
