/**
 * One TCP port for HTTP/1.1 and cleartext HTTP/2. Node's h2c server refuses HTTP/1.1, so
 * each connection's first bytes decide: the HTTP/2 preface starts with "PRI", no HTTP/1.1
 * method does. An optional admission check runs on every request before the handler sees
 * it (the overload gate: it refuses before the body is read).
 */
import {
  createServer as createHttp1Server,
  type IncomingMessage,
  type RequestListener,
  type ServerResponse,
} from "node:http";
import { createServer as createHttp2Server, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import { createServer as createNetServer, type Server, type Socket } from "node:net";
import type { Duplex } from "node:stream";

export interface OnePortServer {
  server: Server;
  /** Stops accepting, lets open requests finish until the bound, then closes the rest. */
  close(timeoutMs: number): Promise<void>;
}

/** Takes over an HTTP/1.1 Upgrade request (the /socket WebSocket); unclaimed upgrades are refused. */
export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** True: hand the request to the handler; false: it was answered (refused) already. */
export type AdmissionCheck = (
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
) => boolean | Promise<boolean>;

export function createOnePortServer(
  handler: RequestListener,
  options: { upgrade?: UpgradeListener; admit?: AdmissionCheck } = {},
): OnePortServer {
  const { admit } = options;
  const listener: RequestListener = admit
    ? (req, res) => {
        const admitted = admit(req, res);
        if (admitted === true) handler(req, res);
        else if (admitted !== false)
          admitted.then(
            (go) => go && handler(req, res),
            (error: unknown) => {
              res.destroy(error instanceof Error ? error : new Error(String(error)));
            },
          );
      }
    : handler;
  const http1 = createHttp1Server(
    { keepAliveTimeout: 65_000, headersTimeout: 66_000, requestTimeout: 120_000 },
    listener,
  );
  if (options.upgrade) http1.on("upgrade", options.upgrade);
  const http2 = createHttp2Server({ settings: { maxConcurrentStreams: 1000 } }, listener as never);
  const sockets = new Set<Socket>();

  // No Nagle, as node:http's own servers do (noDelay): a socket handed over by "connection" keeps
  // the net server's setting, and Nagle would hold an answer's last small write for the client's delayed ACK.
  const server = createNetServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.once("readable", function route() {
      const head: Buffer | null = socket.read(3);
      if (head === null) {
        if (!socket.readableEnded) socket.once("readable", route);
        return;
      }
      socket.unshift(head);
      (head.toString("latin1") === "PRI" ? http2 : http1).emit("connection", socket);
    });
  });
  const sessions = new Set<import("node:http2").ServerHttp2Session>();
  http2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });

  return {
    server,
    close(timeoutMs) {
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          for (const socket of sockets) socket.destroy();
          resolve();
        }, timeoutMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        // Idle keep-alive connections would hold close() open: end them now, busy ones when done.
        http1.closeIdleConnections();
        // GOAWAY: HTTP/2 clients open no new streams here; open streams may finish.
        for (const session of sessions) session.close();
      });
    },
  };
}
