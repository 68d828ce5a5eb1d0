/**
 * The admin listener of every process (METRICS_PORT): /metrics for Prometheus, /health and
 * /health/ready for the orchestrator, /health/detailed (each dependency with its latency) for
 * operators. It is never the app port: what it shows (addresses, dependencies) stays inside the
 * cluster, where network policies let only Prometheus and the kubelet reach it.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { DependencyCheck, Platform } from "./platform.js";
import { runChecks } from "./platform.js";

export interface AdminServerOptions {
  host?: string;
  /** The checks behind readiness; default the platform's (the gateway adds its upstreams). */
  checks?: () => readonly DependencyCheck[];
  /** False while the process is shutting down (readiness 503). */
  accepting?: () => boolean;
}

export async function startMetricsServer(
  platform: Platform,
  port: number,
  options: AdminServerOptions = {},
): Promise<Server & { port: number }> {
  const checks = options.checks ?? (() => platform.checks);
  const server = createServer(async (req, res) => {
    try {
      const path = (req.url ?? "/").split("?")[0];
      if (path === "/metrics") {
        const { contentType, body } = await platform.metrics.exposition();
        res.writeHead(200, { "content-type": contentType }).end(body);
      } else if (path === "/health" || path === "/health/live") {
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ status: "ok", uptimeSeconds: Math.round(process.uptime()) }));
      } else if (path === "/health/ready" || path === "/health/detailed") {
        const results = await runChecks(checks());
        const ready = (options.accepting?.() ?? true) && results.every((r) => r.ok || !r.critical);
        const body =
          path === "/health/ready"
            ? { status: ready ? "ready" : "not ready", failing: results.filter((r) => !r.ok).map((r) => r.name) }
            : {
                status: ready ? "ready" : "not ready",
                uptimeSeconds: Math.round(process.uptime()),
                memory: process.memoryUsage(),
                checks: results,
              };
        res.writeHead(ready ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify(body));
      } else {
        res.writeHead(404).end();
      }
    } catch {
      res.writeHead(500).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(port, options.host ?? "0.0.0.0", resolve));
  platform.onShutdown("admin server", () => new Promise((resolve) => server.close(() => resolve())));
  return Object.assign(server, { port: (server.address() as AddressInfo).port });
}
