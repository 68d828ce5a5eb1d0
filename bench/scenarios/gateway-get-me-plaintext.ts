/**
 * Comparison point for gateway-get-me, not a way to run the product: the same all-in-one and the
 * same authenticated GetMe, but the gateway → identity hop in plaintext (the bench child patches
 * its own Mesh to insecure credentials, see _all-in-one-mesh.ts; the product has no such switch).
 * gateway-get-me / gateway-get-me-plaintext is what mutual TLS costs GetMe (issue 14: at most 10%).
 */
import type { Scenario } from "../lib/scenario.js";
import { startGetMe } from "./_get-me.js";

export default {
  name: "gateway-get-me-plaintext",
  description: "gateway-get-me with the gateway → identity hop in plaintext (bench-only comparison point)",
  start: () => startGetMe("gateway-get-me-plaintext", "plaintext"),
} satisfies Scenario;
