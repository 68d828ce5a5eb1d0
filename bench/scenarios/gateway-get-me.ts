/**
 * An authenticated Connect JSON unary call through the gateway: GetMe. Each request pays the
 * Connect decode, token check (cached verify + revocation lookup), the gRPC hop to identity,
 * identity's interceptors and token check, one database read, and the way back.
 * The whole system runs in one child process, as `npm start` runs it (embedded defaults,
 * or the real servers when DATABASE_URL / REDIS_URL / NATS_URL are set in the environment).
 */
import { randomBytes } from "node:crypto";
import { embeddedTestDataDir } from "@weelo/db";
import { startChild } from "../lib/child.js";
import type { Scenario } from "../lib/scenario.js";

export default {
  name: "gateway-get-me",
  description: "authenticated Connect JSON GetMe: gateway → identity (gRPC) → database",
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
        url: `${system.baseUrl}/weelo.identity.v1.ProfileService/GetMe`,
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${verified.data.tokens.accessToken}` },
        body: "{}",
        stop: () => system.stop(),
      };
    } catch (error) {
      await system.stop();
      throw error;
    }
  },
} satisfies Scenario;
