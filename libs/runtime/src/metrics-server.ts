/**
 * A service running alone exposes /metrics and /health on a small HTTP port for Prometheus
 * and the orchestrator (the gateway serves both on its own port in the embedded mode).
 */
import { createServer, type Server } from "node:http";
import type { Platform } from "./platform.js";
import { runChecks } from "./platform.js";

export async function startMetricsServer(platform: Platform, port: number, host = "0.0.0.0"): Promise<Server> {
  const server = createServer(async (req, res) => {
    try {
      if (req.url === "/metrics") {
        const { contentType, body } = await platform.metrics.exposition();
        res.writeHead(200, { "content-type": contentType }).end(body);
      } else if (req.url === "/health") {
        res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
      } else if (req.url === "/health/ready") {
        const results = await runChecks(platform.checks);
        const ready = results.every((r) => r.ok || !r.critical);
        res.writeHead(ready ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify({ ready, checks: results }));
      } else {
        res.writeHead(404).end();
      }
    } catch {
      res.writeHead(500).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  platform.onShutdown("metrics server", () => new Promise((resolve) => server.close(() => resolve())));
  return server;
}
