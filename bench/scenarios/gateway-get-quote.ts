/**
 * A customer's fare quote through the gateway: GetQuote. Each request pays what GetMe pays
 * (Connect, token, gRPC hop) plus pricing's work: validation, the catalog (cached), a
 * great-circle distance, surge lookup, the fare arithmetic, signing the quote token, and one
 * database insert (the stored quote).
 * The whole system runs in one child process, as `npm start` runs it (embedded defaults,
 * or the real servers when DATABASE_URL / REDIS_URL / NATS_URL are set in the environment).
 */
import { randomBytes } from "node:crypto";
import { embeddedTestDataDir } from "@weelo/db";
import { startChild } from "../lib/child.js";
import type { Scenario } from "../lib/scenario.js";

export default {
  name: "gateway-get-quote",
  description: "customer Connect JSON GetQuote: gateway → pricing (gRPC) → database insert",
  target: { vsConnectEcho: 0.5 },
  async start() {
    const suffix = randomBytes(4).toString("hex");
    const system = await startChild({
      name: "weelo all-in-one",
      script: "gateway/src/all-in-one.ts",
      env: {
        NODE_ENV: "development",
        LOG_LEVEL: "info", // the "Weelo is up" line is info; requests log at debug
        PORT: "0",
        HOST: "127.0.0.1",
        GRPC_PORT: "0",
        GRPC_HOST: "127.0.0.1",
        DATA_DIR: await embeddedTestDataDir(),
        DB_SCHEMA_PREFIX: `bench_${suffix}_`,
        CACHE_KEY_PREFIX: `bench:${suffix}:`,
        // One customer asks as fast as the load allows: lift the per-user quote limit.
        QUOTES_PER_USER_PER_MINUTE: "100000",
      },
      readyPattern: /"gateway":"http:\/\/127\.0\.0\.1:(\d+)"/,
    });
    try {
      const post = async (path: string, body: unknown) => {
        const response = await fetch(`${system.baseUrl}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
        if (!response.ok) throw new Error(`${path} answered ${response.status}: ${await response.text()}`);
        return (await response.json()) as any;
      };
      const sent = await post("/api/v1/auth/send-otp", { phone: "9876500001", role: "customer" });
      const verified = await post("/api/v1/auth/verify-otp", { phone: "9876500001", otp: sent.data.devOtp, role: "customer" });
      return {
        url: `${system.baseUrl}/weelo.pricing.v1.PricingService/GetQuote`,
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${verified.data.tokens.accessToken}` },
        // Pune station to Hinjewadi, two 14 ft trucks.
        body: JSON.stringify({ pickup: { lat: 18.5286, lng: 73.8743 }, drop: { lat: 18.5912, lng: 73.7389 }, vehicleType: "lcv_14ft", vehicleCount: 2 }),
        stop: () => system.stop(),
      };
    } catch (error) {
      await system.stop();
      throw error;
    }
  },
} satisfies Scenario;
