/**
 * Reference floor with the mesh: connect-grpc-hop with the one grpc-js hop secured by mutual TLS
 * with mesh certificates (in-memory mesh CA, the client calling as "gateway", the server proving
 * it is "echo"), as every gateway → service call is. Same server script, HOP_SECURITY=mtls; read
 * it beside connect-grpc-hop: the ratio of the two is what mTLS costs a hop at most (nothing but
 * the hop happens here). At stop, prints the TLS handshakes the hop server completed: one per
 * channel, however many calls.
 */
import { startChild } from "../lib/child.js";
import type { Scenario } from "../lib/scenario.js";
import { handshakesReported } from "../lib/tls-handshakes.js";
import { ECHO_BODY, ECHO_PATH } from "../baselines/echo-service.js";

export default {
  name: "connect-grpc-hop-mtls",
  description: "reference floor: connect-grpc-hop with the grpc-js hop on mutual TLS (mesh certificates)",
  async start() {
    const server = await startChild({
      name: "connect-grpc-hop-mtls",
      script: "bench/baselines/connect-grpc-hop-server.ts",
      env: { HOP_SECURITY: "mtls" },
    });
    return {
      url: `${server.baseUrl}${ECHO_PATH}`,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: ECHO_BODY,
      stop: async () => {
        await server.stop();
        console.log(
          `connect-grpc-hop-mtls: hop server saw ${handshakesReported(server.recentOutput()) ?? "no handshake count (it printed none)"}`,
        );
      },
    };
  },
} satisfies Scenario;
