/**
 * A customer's fare quote through the gateway: GetQuote. Each request pays what GetMe pays
 * (Connect, token, gRPC hop) plus pricing's work: validation, the catalog (cached), a
 * great-circle distance, surge lookup, the fare arithmetic, signing the quote token, and one
 * database insert (the stored quote).
 */
import type { Scenario } from "../lib/scenario.js";
import { getQuoteRoute } from "./_gateway-calls.js";
import { withBenchSystem } from "./_system.js";

export default {
  name: "gateway-get-quote",
  description: "customer Connect JSON GetQuote: gateway → pricing (gRPC) → database insert",
  target: { vs: "connect-grpc-hop", ratio: 0.9 },
  start: () =>
    // One customer asks as fast as the load allows: lift the per-user quote limit.
    withBenchSystem({ QUOTES_PER_USER_PER_MINUTE: "100000" }, async (system) => ({
      ...getQuoteRoute(system, await system.loginCustomer()),
      stop: () => system.stop(),
    })),
} satisfies Scenario;
