/**
 * gateway-get-me in the deployed topology: the gateway and identity each in its own process
 * from the build (dist/), the hop on the mutual-TLS mesh port, on the real Postgres, Redis and
 * NATS (scenarios/_mesh.ts; skipped with the reason printed when their URLs are not set).
 * Judged against the connect-grpc-hop floor of the same run.
 */
import type { Scenario } from "../lib/scenario.js";
import { getMeRoute } from "./_gateway-calls.js";
import { withMesh } from "./_mesh.js";

export default {
  name: "gateway-get-me-mesh",
  description: "GetMe in the mesh: gateway process → identity process (gRPC, mTLS), built JS, real servers",
  target: { vs: "connect-grpc-hop", ratio: 0.9 },
  start: () =>
    withMesh(async (client, release) => ({ ...getMeRoute(client, await client.loginCustomer()), stop: release })),
} satisfies Scenario;
