/**
 * Reference, not a feature: bare Connect echo + one grpc-js hop to a bare grpc-js server.
 * The gateway-get-me figure is best read against this: the gap between the two is what
 * authentication, interceptors, logging and the service's own work cost.
 */
import { startChild } from "../lib/child.js";
import type { Scenario } from "../lib/scenario.js";
import { ECHO_BODY, ECHO_PATH } from "../baselines/echo-service.js";

export default {
  name: "connect-grpc-hop",
  description: "reference floor: bare Connect echo forwarding over one grpc-js hop (same process)",
  async start() {
    const server = await startChild({
      name: "connect-grpc-hop",
      script: "bench/baselines/connect-grpc-hop-server.ts",
      env: { HOP_SECURITY: "plaintext" },
    });
    return {
      url: `${server.baseUrl}${ECHO_PATH}`,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: ECHO_BODY,
      stop: () => server.stop(),
    };
  },
} satisfies Scenario;
