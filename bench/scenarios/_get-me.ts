/**
 * The GetMe load, shared by gateway-get-me (the mesh hop on mutual TLS, as the product runs) and
 * gateway-get-me-plaintext (the same system with that hop in plaintext, bench-only). At stop,
 * the mTLS run prints how many TLS handshakes the mesh listener completed during the whole run.
 */
import type { ScenarioTarget } from "../lib/scenario.js";
import { handshakesReported } from "../lib/tls-handshakes.js";
import { getMeRoute } from "./_gateway-calls.js";
import { withBenchSystem } from "./_system.js";

export function startGetMe(name: string, meshHop: "mtls" | "plaintext"): Promise<ScenarioTarget> {
  return withBenchSystem(
    // The all-in-one's graceful shutdown can outlast the bench's 5 s before SIGKILL (which loses
    // a BENCH_CPU_PROF profile): a shorter bound makes it exit by itself within 4 s.
    { SHUTDOWN_TIMEOUT_MS: "3000" },
    async (system) => ({
      ...getMeRoute(system, await system.loginCustomer()),
      stop: async () => {
        await system.stop();
        if (meshHop === "mtls")
          console.log(
            `${name}: the mesh listener saw ${handshakesReported(system.recentOutput()) ?? "no handshake count (it printed none)"}`,
          );
      },
    }),
    // A busy 2-core machine can take well over the default 30 s to start the all-in-one.
    { meshHop, readyTimeoutMs: 120_000 },
  );
}
