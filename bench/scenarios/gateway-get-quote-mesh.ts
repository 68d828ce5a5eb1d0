/**
 * gateway-get-quote in the deployed topology: the gateway and pricing each in its own process
 * from the build (dist/), the hop on the mutual-TLS mesh port, one insert per quote into the
 * real Postgres (scenarios/_mesh.ts; skipped with the reason printed when the real servers'
 * URLs are not set). Judged against the connect-grpc-hop floor of the same run.
 */
import type { Scenario } from "../lib/scenario.js";
import { getQuoteRoute } from "./_gateway-calls.js";
import { withMesh } from "./_mesh.js";

export default {
  name: "gateway-get-quote-mesh",
  description: "GetQuote in the mesh: gateway process → pricing process (gRPC, mTLS) → Postgres insert",
  target: { vs: "connect-grpc-hop", ratio: 0.9 },
  start: () =>
    withMesh(async (client, release) => ({ ...getQuoteRoute(client, await client.loginCustomer()), stop: release })),
} satisfies Scenario;
