/**
 * An authenticated Connect JSON unary call through the gateway: GetMe. Each request pays the
 * Connect decode, token check (cached verify + revocation lookup), the gRPC hop to identity,
 * identity's interceptors and token check, one database read, and the way back.
 * The whole system runs in one child process, as `npm start` runs it (embedded defaults,
 * or the real servers when DATABASE_URL / REDIS_URL / NATS_URL are set in the environment).
 */
import type { Scenario } from "../lib/scenario.js";
import { withBenchSystem } from "./_system.js";

export default {
  name: "gateway-get-me",
  description: "authenticated Connect JSON GetMe: gateway → identity (gRPC) → database",
  target: { vsConnectEcho: 0.5 },
  start: () =>
    withBenchSystem({}, async (system) => ({
      url: `${system.baseUrl}/weelo.identity.v1.ProfileService/GetMe`,
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${await system.loginCustomer()}` },
      body: "{}",
      stop: () => system.stop(),
    })),
} satisfies Scenario;
