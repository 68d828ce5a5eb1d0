/**
 * A customer's fare quote through the gateway: GetQuote. Each request pays what GetMe pays
 * (Connect, token, gRPC hop) plus pricing's work: validation, the catalog (cached), a
 * great-circle distance, surge lookup, the fare arithmetic, signing the quote token, and one
 * database insert (the stored quote).
 */
import type { Scenario } from "../lib/scenario.js";
import { withBenchSystem } from "./_system.js";

export default {
  name: "gateway-get-quote",
  description: "customer Connect JSON GetQuote: gateway → pricing (gRPC) → database insert",
  target: { vsConnectEcho: 0.5 },
  start: () =>
    // One customer asks as fast as the load allows: lift the per-user quote limit.
    withBenchSystem({ QUOTES_PER_USER_PER_MINUTE: "100000" }, async (system) => ({
      url: `${system.baseUrl}/weelo.pricing.v1.PricingService/GetQuote`,
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${await system.loginCustomer()}` },
      // Pune station to Hinjewadi, two 14 ft trucks.
      body: JSON.stringify({
        pickup: { lat: 18.5286, lng: 73.8743 },
        drop: { lat: 18.5912, lng: 73.7389 },
        vehicleType: "lcv_14ft",
        vehicleCount: 2,
      }),
      stop: () => system.stop(),
    })),
} satisfies Scenario;
