/**
 * gateway-list-bookings in the deployed topology: the gateway and booking each in its own
 * process from the build (dist/), the hop on the mutual-TLS mesh port, a page of 20 read from
 * the real Postgres (scenarios/_mesh.ts; skipped with the reason printed when the real servers'
 * URLs are not set). Judged against the connect-grpc-hop floor of the same run.
 */
import type { Scenario } from "../lib/scenario.js";
import { listBookingsRoute } from "./_gateway-calls.js";
import { withMesh } from "./_mesh.js";

export default {
  name: "gateway-list-bookings-mesh",
  description: "ListBookings (20) in the mesh: gateway process → booking process (gRPC, mTLS) → Postgres read",
  target: { vs: "connect-grpc-hop", ratio: 0.9 },
  start: () =>
    withMesh(async (client, release) => ({
      ...(await listBookingsRoute(client, await client.loginCustomer())),
      stop: release,
    })),
} satisfies Scenario;
