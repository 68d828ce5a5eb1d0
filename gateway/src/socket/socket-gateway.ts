/**
 * The /socket WebSocket on the gateway's one port (HTTP/1.1 Upgrade), for apps that want live
 * booking status and truck positions as JSON. The gateway decides nothing about who may see
 * what: each subscription opens booking's WatchBooking and tracking's WatchLocation with the
 * user's own token, exactly as the app would over gRPC, so the services authorize it and an
 * unknown or someone else's booking comes back as an error frame.
 *
 * Bounded everywhere: sockets per process, subscriptions per socket, frame size, and unsent
 * bytes per socket (a client that stops reading is closed as a slow consumer instead of
 * growing the gateway's memory). Dead peers are found by ping/pong; tokens expire and
 * sessions are re-checked for revocation while the socket lives; on shutdown every client is
 * told to reconnect (1012).
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { SessionWatch, TokenVerifier } from "@weelo/auth";
import type { Logger } from "@weelo/log";
import type { Metrics } from "@weelo/metrics";
import { startPolling, type Polling } from "@weelo/runtime/polling";
import { WebSocketServer } from "ws";
import type { Forwarder } from "../forward.js";
import { RateLimitedError, rateLimitHeaders, type Admission } from "../overload/admission.js";
import { CLOSE } from "./protocol.js";
import { Session } from "./session.js";
import { socketMetrics, type SocketCounters } from "./socket.metrics.js";

export const SOCKET_PATH = "/socket";

export interface SocketSettings {
  maxConnections: number;
  maxSubscriptions: number;
  maxBufferedBytes: number;
  maxFrameBytes: number;
  pingIntervalMs: number;
  authTimeoutMs: number;
  revocationCheckMs: number;
  /** Average client frames per second; bursts of ten seconds' worth are allowed. */
  framesPerSecond: number;
}

export interface SocketDeps {
  verifier: TokenVerifier;
  /** Revocation notices: a socket whose session is revoked closes at once (the periodic re-check is the fallback). */
  sessions?: Pick<SessionWatch, "watch">;
  forwarder: Forwarder;
  logger: Logger;
  metrics: Metrics;
  settings: SocketSettings;
  clientIp(req: IncomingMessage): string;
  /** The gateway's admission: its "socket" class is the per-IP budget of new sockets (shared across replicas through Redis). */
  admission: Pick<Admission, "checkLimit">;
}

export class SocketGateway {
  private readonly wss: WebSocketServer;
  private readonly sessions = new Set<Session>();
  private readonly heartbeat: Polling;
  private readonly revocationSweep: Polling;
  private closing = false;
  private closed: Promise<void> | undefined;
  readonly counters: SocketCounters;

  constructor(private readonly deps: SocketDeps) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: deps.settings.maxFrameBytes,
      perMessageDeflate: false,
      clientTracking: false,
    });
    this.counters = socketMetrics(deps.metrics, this.sessions);
    let lastBeat = Date.now();
    this.heartbeat = startPolling({
      name: "socket heartbeat",
      everyMs: deps.settings.pingIntervalMs,
      delayFirstRun: true,
      logger: deps.logger,
      task: async () => {
        // A beat that comes late means this process stalled (GC, CPU starvation): peers had no
        // chance to answer, so this round only pings and judges nobody.
        const now = Date.now();
        const onTime = now - lastBeat < deps.settings.pingIntervalMs * 1.5;
        lastBeat = now;
        for (const session of this.sessions) session.heartbeat(onTime);
      },
    });
    // Each round re-checks every socket's token; the next round starts only once it is done.
    this.revocationSweep = startPolling({
      name: "socket revocation sweep",
      everyMs: deps.settings.revocationCheckMs,
      delayFirstRun: true,
      logger: deps.logger,
      task: () => Promise.all([...this.sessions].map((session) => session.recheck())),
    });
  }

  /** The Upgrade handler of the gateway's HTTP/1.1 server: /socket only. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== SOCKET_PATH) return refuseUpgrade(socket, 404, "Not Found");
    if (this.closing) return refuseUpgrade(socket, 503, "Service Unavailable", { "retry-after": "1" });
    if (this.sessions.size >= this.deps.settings.maxConnections) {
      this.counters.closes.inc({ reason: "capacity" });
      return refuseUpgrade(socket, 503, "Service Unavailable", { "retry-after": "5" });
    }
    socket.on("error", () => undefined); // a client leaving during the check is no fault of ours
    this.deps.admission.checkLimit("socket", "ip", this.deps.clientIp(req)).then(
      () => this.accept(req, socket, head),
      (error: unknown) => {
        if (error instanceof RateLimitedError) {
          this.counters.closes.inc({ reason: "rate_limited" });
          return refuseUpgrade(socket, 429, "Too Many Requests", rateLimitHeaders([error.decision]));
        }
        this.deps.logger.error({ err: error }, "socket rate limit check failed");
        refuseUpgrade(socket, 503, "Service Unavailable", { "retry-after": "1" });
      },
    );
  }

  private accept(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.closing || socket.destroyed) return void socket.destroy();
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const session = new Session(ws, req, this.deps, this.counters);
      this.sessions.add(session);
      ws.once("close", () => this.sessions.delete(session));
      session.start();
    });
  }

  /** Tells every client to reconnect (1012) and waits for the sockets to close, within the bound. */
  close(timeoutMs: number): Promise<void> {
    this.closed ??= this.closeAll(timeoutMs);
    return this.closed;
  }

  private async closeAll(timeoutMs: number): Promise<void> {
    this.closing = true;
    // No more rounds; a round in progress finishes while the sockets close.
    const loopsStopped = Promise.all([this.heartbeat.stop(), this.revocationSweep.stop()]);
    const open = [...this.sessions];
    for (const session of open) session.close(CLOSE.restarting, "server restarting; reconnect", "restarting");
    const deadline = Date.now() + timeoutMs;
    while (this.sessions.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    for (const session of this.sessions) session.terminate();
    this.wss.close();
    await loopsStopped;
  }
}

function refuseUpgrade(socket: Duplex, status: number, text: string, headers: Record<string, string> = {}): void {
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("");
  socket.end(`HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-length: 0\r\n${extra}\r\n`);
}
