/**
 * A tiny HTTP side door of the tracking bench's server children (the tracking server and the
 * raw grpc-js echo): GET /state → open streams, memory after a forced GC, and whether load may
 * start; POST /go lets the load workers start once the parent has read the idle memory.
 * The child must run with --expose-gc.
 */
import { createServer } from "node:http";

export interface ControlState {
  streams: number;
  go: boolean;
  rssBytes: number;
  heapUsedBytes: number;
  externalBytes: number;
  /** CPU time the server process used so far (user + system), µs. */
  cpuMicros: number;
  /** Whatever else the server reports (e.g. points accepted). */
  extra: Record<string, number>;
}

export function startControlServer(
  port: number,
  streams: () => number,
  extra: () => Promise<Record<string, number>> = async () => ({}),
): Promise<void> {
  let go = false;
  const server = createServer((req, res) => {
    void (async () => {
      if (req.method === "POST" && req.url === "/go") {
        go = true;
        res.end("{}");
        return;
      }
      const withGc = req.url?.includes("gc=1") ?? false;
      if (withGc) {
        (globalThis as { gc?: () => void }).gc?.();
        (globalThis as { gc?: () => void }).gc?.();
      }
      const memory = process.memoryUsage();
      const cpu = process.cpuUsage();
      const state: ControlState = {
        streams: streams(),
        go,
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        externalBytes: memory.external + memory.arrayBuffers,
        cpuMicros: cpu.user + cpu.system,
        extra: await extra(),
      };
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(state));
    })().catch((error: unknown) => {
      res.statusCode = 500;
      res.end(String(error));
    });
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve()));
}

export async function controlState(port: number, gc = false): Promise<ControlState> {
  const response = await fetch(`http://127.0.0.1:${port}/state${gc ? "?gc=1" : ""}`);
  return (await response.json()) as ControlState;
}
