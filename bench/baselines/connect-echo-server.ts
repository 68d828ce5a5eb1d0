/**
 * Baseline 2: the framework floor. A bare @connectrpc/connect-node server
 * (connectNodeAdapter on node:http, HTTP/1.1) with one unary Echo RPC, loaded
 * with Connect JSON (POST /weelo.bench.v1.EchoService/Echo,
 * content-type application/json). Nothing else: no interceptors, no auth, no
 * logging. Any real gateway route pays at least this, so scenarios are judged
 * against it (`target.vsConnectEcho`).
 *
 * Run in a child process by bench/run.ts; prints `READY port=N`.
 */
import { createServer } from "node:http";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { EchoService } from "./echo-service.js";
import { announceReady, exitOnSignal } from "../lib/ready.js";

const routes = (router: ConnectRouter) => {
  router.service(EchoService, {
    echo: (req) => ({ message: req.message }),
  });
};

const server = createServer(connectNodeAdapter({ routes }));

server.listen(0, "127.0.0.1", () => announceReady(server));
exitOnSignal(() => new Promise<void>((resolve) => server.close(() => resolve())));
