/**
 * Baseline 1: the ceiling. A raw node:http server answering POST /echo: it
 * reads the body, parses the JSON, and replies JSON. No framework, no routing
 * table, no validation: what a Node process on this machine can do at best.
 *
 * Run in a child process by bench/run.ts; prints `READY port=N`.
 */
import { createServer } from "node:http";
import { announceReady, exitOnSignal } from "../lib/ready.js";

const server = createServer((req, res) => {
  if (req.method !== "POST" || req.url !== "/echo") {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    let message: unknown;
    try {
      message = (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { message?: unknown }).message;
    } catch {
      res.writeHead(400, { "content-type": "application/json" }).end('{"error":"bad json"}');
      return;
    }
    const body = JSON.stringify({ message: typeof message === "string" ? message : "" });
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
});

server.listen(0, "127.0.0.1", () => announceReady(server));
exitOnSignal(() => new Promise<void>((resolve) => server.close(() => resolve())));
