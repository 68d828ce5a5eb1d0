/**
 * A customer's booking through the gateway on the real Postgres: CreateBooking. Each request
 * pays Connect, the token, the gRPC hop, quote verification, validation, and one transaction
 * writing the order, its booking, the status history row and the outbox row (then the relay
 * publishes the event). Judged against kysely-insert: one bare insert in the same run.
 * The whole system runs in one child process, as `npm start` runs it (embedded defaults,
 * or the real servers when DATABASE_URL / REDIS_URL / NATS_URL are set in the environment).
 */
import { randomBytes } from "node:crypto";
import { embeddedTestDataDir } from "@weelo/db";
import { benchDatabaseUrl, dropBenchSchema } from "./_postgres.js";
import { startChild } from "../lib/child.js";
import type { Scenario } from "../lib/scenario.js";

export default {
  name: "gateway-create-booking",
  description: "customer Connect JSON CreateBooking: gateway → booking (gRPC) → Postgres transaction + outbox",
  target: { vs: "kysely-insert", ratio: 0.2 },
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
        DATABASE_URL: benchDatabaseUrl(),
        // Five services share one Postgres here (max_connections 100): 15 connections each.
        DB_POOL_MAX: "15",
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
      const authorization = `Bearer ${verified.data.tokens.accessToken}`;
      const pune = { lat: 18.5286, lng: 73.8743 };
      const hinjewadi = { lat: 18.5912, lng: 73.7389 };
      const quote = await fetch(`${system.baseUrl}/api/v1/quotes`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization },
        body: JSON.stringify({ pickup: pune, drop: hinjewadi, vehicleType: "lcv_14ft", vehicleCount: 1 }),
      }).then((r) => r.json() as Promise<any>);
      const place = (location: typeof pune, name: string) => ({ line1: "Plot 12, MIDC", city: "Pune", state: "Maharashtra", pincode: "411001", location, contactName: name, contactPhone: "+919876500009" });
      return {
        url: `${system.baseUrl}/weelo.booking.v1.BookingService/CreateBooking`,
        method: "POST",
        headers: { "content-type": "application/json", authorization },
        // One quote serves the whole run (it lives 10 minutes); each request a new idempotency key.
        body: JSON.stringify({
          quoteToken: quote.data.quoteToken,
          pickup: place(pune, "Anil Shinde"),
          drop: place(hinjewadi, "Kavita Rao"),
          vehicleType: "lcv_14ft",
          vehicleCount: 1,
          goodsType: "furniture",
          weightKg: 800,
          idempotencyKey: "[<id>]",
        }),
        idReplacement: true,
        async stop() {
          await system.stop();
          await dropBenchSchema(["identity", "fleet", "pricing", "booking", "tracking"].map((service) => `bench_${suffix}_${service}`));
        },
      };
    } catch (error) {
      await system.stop();
      throw error;
    }
  },
} satisfies Scenario;
