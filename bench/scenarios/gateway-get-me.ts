/**
 * An authenticated Connect JSON unary call through the gateway: GetMe. Each request pays the
 * Connect decode, token check (cached verify + revocation lookup), the gRPC hop to identity
 * (mutual TLS on the mesh listener, one handshake per channel), identity's interceptors and
 * token check, one database read, and the way back.
 * The whole system runs in one child process, as `npm start` runs it (embedded defaults,
 * or the real servers when DATABASE_URL / REDIS_URL / NATS_URL are set in the environment),
 * through bench/scenarios/_all-in-one-mesh.ts, which only adds a TLS handshake counter.
 * Read it beside gateway-get-me-plaintext (the same hop without TLS).
 */
import type { Scenario } from "../lib/scenario.js";
import { startGetMe } from "./_get-me.js";

export default {
  name: "gateway-get-me",
  description: "authenticated Connect JSON GetMe: gateway → identity (gRPC, mTLS) → database",
  target: { vs: "connect-grpc-hop", ratio: 0.9 },
  start: () => startGetMe("gateway-get-me", "mtls"),
} satisfies Scenario;
