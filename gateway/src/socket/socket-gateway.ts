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
import { create, toJson, type JsonObject } from "@bufbuild/protobuf";
import { bearerToken, type Principal, type SessionWatch, type TokenVerifier } from "@weelo/auth";
import { BookingStatus } from "@weelo/contracts/es/weelo/booking/v1/booking_pb";
import {
  BookingService,
  WatchBookingRequestSchema,
  type WatchBookingResponse,
} from "@weelo/contracts/es/weelo/booking/v1/booking_service_pb";
import {
  TrackingService,
  WatchLocationRequestSchema,
  type WatchLocationResponse,
} from "@weelo/contracts/es/weelo/tracking/v1/tracking_service_pb";
import { codeName, DomainError } from "@weelo/errors";
import { requestIdFrom, type Logger } from "@weelo/log";
import type { Metrics } from "@weelo/metrics";
import client from "prom-client";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import type { Forwarder } from "../forward.js";
import { RateLimitedError, rateLimitHeaders, type Admission } from "../overload/admission.js";
import { CLOSE, FrameError, parseClientFrame, type ClientFrame, type ErrorFrame } from "./protocol.js";

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

/** Statuses during which the booking has a truck on the road to follow. */
const TRIP_STATUSES = new Set<BookingStatus>([
  BookingStatus.ASSIGNED,
  BookingStatus.DRIVER_EN_ROUTE,
  BookingStatus.AT_PICKUP,
  BookingStatus.IN_TRANSIT,
  BookingStatus.AT_DROPOFF,
]);
const watchBooking = BookingService.method.watchBooking;
const watchLocation = TrackingService.method.watchLocation;
/** A stalled client never reads the close frame: it is dropped this long after being told. */
const CLOSE_GRACE_MS = 5000;
/** Refused frames beyond this many in a row: the client is ignoring the refusals, close it (1008). */
const MAX_REFUSED_FRAMES = 100;
/** Retries of a location feed the tracking service does not know yet (its trip record may trail the booking's event). */
const LOCATION_RETRY_DELAYS_MS = [250, 500, 1000, 2000, 4000, 8000];

export class SocketGateway {
  private readonly wss: WebSocketServer;
  private readonly sessions = new Set<Session>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly revocationSweep: NodeJS.Timeout;
  private closing = false;
  private closed: Promise<void> | undefined;
  readonly counters: { frames: client.Counter<"direction" | "type">; closes: client.Counter<"reason"> };

  constructor(private readonly deps: SocketDeps) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: deps.settings.maxFrameBytes,
      perMessageDeflate: false,
      clientTracking: false,
    });
    const registers = [deps.metrics.registry];
    const sessions = this.sessions;
    new client.Gauge({
      name: "weelo_socket_connections",
      help: "Open /socket WebSocket connections.",
      registers,
      collect() {
        this.set(sessions.size);
      },
    });
    new client.Gauge({
      name: "weelo_socket_subscriptions",
      help: "Bookings followed over /socket.",
      registers,
      collect() {
        let total = 0;
        for (const session of sessions) total += session.subscriptionCount;
        this.set(total);
      },
    });
    this.counters = {
      frames: new client.Counter({
        name: "weelo_socket_frames_total",
        help: "/socket frames by direction (in, out) and type.",
        labelNames: ["direction", "type"] as const,
        registers,
      }),
      closes: new client.Counter({
        name: "weelo_socket_closed_total",
        help: "/socket connections closed, by reason (client, unauthenticated, auth_timeout, slow_consumer, dead_peer, restarting, revoked, expired, error).",
        labelNames: ["reason"] as const,
        registers,
      }),
    };
    let lastBeat = Date.now();
    this.heartbeat = setInterval(() => {
      // A beat that comes late means this process stalled (GC, CPU starvation): peers had no
      // chance to answer, so this round only pings and judges nobody.
      const now = Date.now();
      const onTime = now - lastBeat < deps.settings.pingIntervalMs * 1.5;
      lastBeat = now;
      for (const session of this.sessions) session.heartbeat(onTime);
    }, deps.settings.pingIntervalMs);
    this.heartbeat.unref();
    this.revocationSweep = setInterval(() => {
      for (const session of this.sessions) void session.recheck();
    }, deps.settings.revocationCheckMs);
    this.revocationSweep.unref();
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
    clearInterval(this.heartbeat);
    clearInterval(this.revocationSweep);
    const open = [...this.sessions];
    for (const session of open) session.close(CLOSE.restarting, "server restarting; reconnect", "restarting");
    const deadline = Date.now() + timeoutMs;
    while (this.sessions.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    for (const session of this.sessions) session.terminate();
    this.wss.close();
  }
}

function refuseUpgrade(socket: Duplex, status: number, text: string, headers: Record<string, string> = {}): void {
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("");
  socket.end(`HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-length: 0\r\n${extra}\r\n`);
}

/** One client's socket: its identity, its subscriptions, its output budget. */
class Session {
  private principal: Principal | undefined;
  private token: string | undefined;
  private readonly subscriptions = new Map<string, Subscription>();
  private alive = true;
  private closed = false;
  private authTimer: NodeJS.Timeout | undefined;
  /** Token bucket of client frames. */
  private frameTokens: number;
  private frameRefill = Date.now();
  private refusedFrames = 0;
  /** The token check in progress, if any. */
  private authenticating: Promise<void> | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  /** Stops watching the session of the current token for its revocation. */
  private unwatchSession: (() => void) | undefined;
  readonly requestId: string;
  readonly clientIp: string;
  readonly logger: Logger;

  constructor(
    private readonly ws: WebSocket,
    private readonly req: IncomingMessage,
    readonly deps: SocketDeps,
    private readonly counters: SocketGateway["counters"],
  ) {
    this.requestId = requestIdFrom(
      typeof req.headers["x-request-id"] === "string" ? req.headers["x-request-id"] : undefined,
    );
    this.clientIp = deps.clientIp(req);
    this.logger = deps.logger.child({ requestId: this.requestId, socket: true });
    this.frameTokens = deps.settings.framesPerSecond * 10;
  }

  /** Takes one frame from the bucket; false when the client sends faster than allowed. */
  private takeFrame(): boolean {
    const { framesPerSecond } = this.deps.settings;
    const now = Date.now();
    this.frameTokens = Math.min(
      framesPerSecond * 10,
      this.frameTokens + ((now - this.frameRefill) / 1000) * framesPerSecond,
    );
    this.frameRefill = now;
    if (this.frameTokens < 1) return false;
    this.frameTokens -= 1;
    return true;
  }

  get subscriptionCount(): number {
    return this.subscriptions.size;
  }

  get user(): Principal | undefined {
    return this.principal;
  }

  get authorization(): string {
    return `Bearer ${this.token ?? ""}`;
  }

  start(): void {
    this.ws.on("pong", () => (this.alive = true));
    this.ws.on("message", (data, isBinary) => this.onMessage(data, isBinary));
    this.ws.on("error", (error) => {
      // ws closes the socket itself (e.g. 1009 for a frame over maxPayload); note why.
      this.logger.debug({ err: error }, "socket error");
    });
    this.ws.once("close", (code) => {
      const byServer = this.closed;
      this.closed = true;
      if (!byServer) this.counters.closes.inc({ reason: code === CLOSE.tooLarge ? "frame_too_large" : "client" });
      this.cleanup();
    });
    const url = new URL(this.req.url ?? "/", "http://gateway");
    const token =
      url.searchParams.get("access_token") ??
      url.searchParams.get("token") ??
      bearerToken(this.req.headers.authorization);
    if (token) {
      this.authenticating = this.authenticate(token).finally(() => (this.authenticating = undefined));
    } else {
      this.authTimer = setTimeout(() => {
        if (!this.principal) this.close(CLOSE.authTimeout, "no auth frame in time", "auth_timeout");
      }, this.deps.settings.authTimeoutMs);
    }
  }

  heartbeat(judge: boolean): void {
    if (this.closed) return;
    if (judge && !this.alive) {
      this.counters.closes.inc({ reason: "dead_peer" });
      this.terminate();
      return;
    }
    this.alive = false;
    this.ws.ping();
  }

  /** Re-checks the token (expiry and session revocation); closes the socket when it no longer holds. */
  async recheck(): Promise<void> {
    if (!this.token || this.closed) return;
    try {
      await this.deps.verifier.verifyAccessToken(this.token);
    } catch (error) {
      this.sendError(toErrorFrame(error));
      this.close(CLOSE.unauthenticated, "the session has ended; log in again", "revoked");
    }
  }

  /** Sends one frame, unless the client is too far behind: then it is closed as a slow consumer. */
  send(frame: { type: string } & Record<string, unknown>): void {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) return;
    if (this.ws.bufferedAmount > this.deps.settings.maxBufferedBytes) {
      this.logger.warn(
        { buffered: this.ws.bufferedAmount, userId: this.principal?.userId },
        "closing a slow /socket consumer",
      );
      this.close(CLOSE.slowConsumer, "too far behind: reconnect and resume", "slow_consumer");
      return;
    }
    this.counters.frames.inc({ direction: "out", type: frame.type });
    this.ws.send(JSON.stringify(frame));
  }

  sendError(frame: Omit<ErrorFrame, "type">): void {
    this.send({ type: "error", ...frame });
  }

  close(code: number, reason: string, metricReason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.counters.closes.inc({ reason: metricReason });
    this.cleanup();
    this.ws.close(code, reason);
    setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  terminate(): void {
    if (this.closed && this.ws.readyState === WebSocket.CLOSED) return;
    this.closed = true;
    this.cleanup();
    this.ws.terminate();
  }

  forget(bookingId: string, subscription: Subscription): void {
    if (this.subscriptions.get(bookingId) === subscription) this.subscriptions.delete(bookingId);
  }

  private cleanup(): void {
    clearTimeout(this.authTimer);
    clearTimeout(this.expiryTimer);
    this.unwatchSession?.();
    for (const subscription of this.subscriptions.values()) subscription.cancel();
    this.subscriptions.clear();
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    this.alive = true;
    if (this.closed) return;
    if (!this.takeFrame()) {
      this.counters.frames.inc({ direction: "in", type: "refused" });
      this.refusedFrames += 1;
      if (this.refusedFrames > MAX_REFUSED_FRAMES) return this.close(CLOSE.policy, "too many frames", "flood");
      return this.sendError({
        code: "RESOURCE_EXHAUSTED",
        reason: "TOO_MANY_FRAMES",
        message: `at most ${this.deps.settings.framesPerSecond} frames per second; this one was dropped`,
      });
    }
    this.refusedFrames = 0;
    let frame: ClientFrame;
    try {
      if (isBinary) throw new FrameError("INVALID_ARGUMENT", "BAD_FRAME", "frames are JSON text, not binary");
      frame = parseClientFrame(rawText(data));
    } catch (error) {
      this.counters.frames.inc({ direction: "in", type: "invalid" });
      this.sendError(toErrorFrame(error));
      return;
    }
    this.counters.frames.inc({ direction: "in", type: frame.type });
    // Frames that arrive while a token is being checked wait for the verdict, in order.
    if (this.authenticating) {
      const parsed = frame;
      this.authenticating = this.authenticating
        .then(() => this.handle(parsed))
        .catch((error: unknown) => this.logger.error({ err: error }, "a /socket frame failed"));
      return;
    }
    this.handle(frame);
  }

  private handle(frame: ClientFrame): void {
    if (this.closed) return;
    if (frame.type === "ping") return this.send({ type: "pong" });
    if (frame.type === "auth") {
      this.authenticating = this.authenticate(frame.token).finally(() => (this.authenticating = undefined));
      return;
    }
    if (!this.principal) {
      return this.sendError({
        code: "UNAUTHENTICATED",
        reason: "UNAUTHENTICATED",
        message: 'authenticate first: {"type":"auth","token":"<access token>"} or ?access_token= in the URL',
      });
    }
    if (frame.type === "unsubscribe") {
      this.subscriptions.get(frame.bookingId)?.cancel();
      this.subscriptions.delete(frame.bookingId);
      return this.send({ type: "unsubscribed", bookingId: frame.bookingId });
    }
    this.subscribe(frame.bookingId, frame.afterSequence === undefined ? 0n : BigInt(frame.afterSequence));
  }

  private subscribe(bookingId: string, afterSequence: bigint): void {
    if (this.subscriptions.has(bookingId)) {
      return this.sendError({
        code: "ALREADY_EXISTS",
        reason: "ALREADY_SUBSCRIBED",
        message: "this socket already follows the booking",
        bookingId,
      });
    }
    if (this.subscriptions.size >= this.deps.settings.maxSubscriptions) {
      return this.sendError({
        code: "RESOURCE_EXHAUSTED",
        reason: "TOO_MANY_SUBSCRIPTIONS",
        message: `a socket follows at most ${this.deps.settings.maxSubscriptions} bookings; unsubscribe from one first`,
        bookingId,
      });
    }
    const subscription = new Subscription(this, bookingId, afterSequence);
    this.subscriptions.set(bookingId, subscription);
    subscription.start();
  }

  private async authenticate(token: string): Promise<void> {
    let principal: Principal;
    try {
      // Like the gateway's front door, plus the revocation check: a socket outlives a call.
      principal = await this.deps.verifier.verifyAccessToken(token);
    } catch (error) {
      this.sendError(toErrorFrame(error));
      this.close(CLOSE.unauthenticated, "not authenticated", "unauthenticated");
      return;
    }
    if (this.closed) return;
    if (this.principal && this.principal.userId !== principal.userId) {
      this.sendError({
        code: "PERMISSION_DENIED",
        reason: "OTHER_USER",
        message: "a socket belongs to one user; open another socket for another user",
      });
      return;
    }
    clearTimeout(this.authTimer);
    this.principal = principal;
    this.token = token;
    clearTimeout(this.expiryTimer);
    this.expiryTimer = setTimeout(
      () => {
        this.sendError({
          code: "UNAUTHENTICATED",
          reason: "TOKEN_EXPIRED",
          message: "the access token has expired; reconnect with a fresh one (or send an auth frame before it expires)",
        });
        this.close(CLOSE.unauthenticated, "access token expired", "expired");
      },
      Math.max(0, principal.expiresAt - Date.now()),
    );
    this.expiryTimer.unref();
    this.unwatchSession?.();
    this.unwatchSession = this.deps.sessions?.watch(principal.sessionId, () => {
      this.sendError({
        code: "UNAUTHENTICATED",
        reason: "SESSION_REVOKED",
        message: "the session has ended; log in again",
      });
      this.close(CLOSE.unauthenticated, "the session has ended; log in again", "revoked");
    });
    this.send({
      type: "ready",
      userId: principal.userId,
      role: principal.role,
      expiresAt: new Date(principal.expiresAt).toISOString(),
    });
  }
}

/** One followed booking: its status feed and, while a truck is on the road, its location feed. */
class Subscription {
  private readonly abort = new AbortController();
  private location: AbortController | undefined;
  private locationAttempt = 0;
  private locationTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly session: Session,
    private readonly bookingId: string,
    private readonly afterSequence: bigint,
  ) {}

  start(): void {
    void this.followStatus();
  }

  cancel(): void {
    this.abort.abort();
    this.stopLocation();
  }

  private forward() {
    return {
      authorization: this.session.authorization,
      requestId: this.session.requestId,
      clientIp: this.session.clientIp,
    };
  }

  private async followStatus(): Promise<void> {
    const { bookingId } = this;
    const request = create(WatchBookingRequestSchema, { bookingId, afterSequence: this.afterSequence });
    try {
      const stream: AsyncIterable<WatchBookingResponse> = this.session.deps.forwarder.call(
        BookingService,
        watchBooking,
        request,
        this.forward(),
        undefined,
        this.abort.signal,
      );
      for await (const message of stream) {
        if (this.abort.signal.aborted) return;
        const status = message.booking ? message.booking.status : message.change?.to;
        if (message.booking) {
          this.session.send({
            type: "subscribed",
            bookingId,
            sequence: message.sequence.toString(),
            booking: (toJson(watchBooking.output, message) as JsonObject).booking,
          });
        } else {
          this.session.send({
            type: "status",
            bookingId,
            sequence: message.sequence.toString(),
            change: (toJson(watchBooking.output, message) as JsonObject).change,
          });
        }
        if (status !== undefined) this.onStatus(status);
      }
      if (!this.abort.signal.aborted)
        this.fail("status", new DomainError(14, "the booking feed ended; subscribe again", { reason: "FEED_ENDED" }));
    } catch (error) {
      if (!this.abort.signal.aborted) this.fail("status", error);
    }
  }

  private onStatus(status: BookingStatus): void {
    // Drivers are the source of the positions: they follow status only.
    if (this.session.user?.role === "driver") return;
    if (TRIP_STATUSES.has(status)) {
      if (!this.location) {
        this.locationAttempt = 0;
        this.followLocation();
      }
    } else {
      this.stopLocation();
    }
  }

  private followLocation(): void {
    const controller = new AbortController();
    this.location = controller;
    const request = create(WatchLocationRequestSchema, { bookingId: this.bookingId });
    void (async () => {
      try {
        const stream: AsyncIterable<WatchLocationResponse> = this.session.deps.forwarder.call(
          TrackingService,
          watchLocation,
          request,
          this.forward(),
          undefined,
          controller.signal,
        );
        for await (const message of stream) {
          if (controller.signal.aborted) return;
          this.locationAttempt = 0;
          this.session.send({
            type: "location",
            bookingId: this.bookingId,
            position: (toJson(watchLocation.output, message) as JsonObject).position,
          });
        }
        if (!controller.signal.aborted) this.retryLocation(undefined);
      } catch (error) {
        if (!controller.signal.aborted) this.retryLocation(error);
      }
    })();
  }

  /** The tracking service may learn of the trip a moment after booking: retry a few times before reporting. */
  private retryLocation(error: unknown): void {
    const delay = LOCATION_RETRY_DELAYS_MS[this.locationAttempt];
    const retryable = error === undefined || (error instanceof DomainError && (error.code === 5 || error.code === 14));
    if (delay === undefined || !retryable) {
      this.location = undefined;
      this.fail("location", error ?? new DomainError(14, "the location feed ended", { reason: "FEED_ENDED" }));
      return;
    }
    this.locationAttempt += 1;
    this.locationTimer = setTimeout(() => {
      if (this.location && !this.location.signal.aborted && !this.abort.signal.aborted) this.followLocation();
    }, delay);
    this.locationTimer.unref();
  }

  private stopLocation(): void {
    clearTimeout(this.locationTimer);
    this.location?.abort();
    this.location = undefined;
  }

  /** Reports a failed feed; a failed status feed ends the subscription (the app may subscribe again). */
  private fail(channel: "status" | "location", error: unknown): void {
    if (!(error instanceof DomainError)) this.session.logger.error({ err: error, channel }, "a /socket feed failed");
    this.session.sendError({ ...toErrorFrame(error), bookingId: this.bookingId, channel });
    if (channel === "status") {
      this.cancel();
      this.session.forget(this.bookingId, this);
    }
  }
}

function toErrorFrame(error: unknown): Omit<ErrorFrame, "type"> {
  if (error instanceof FrameError) return { code: error.code, reason: error.reason, message: error.message };
  if (error instanceof DomainError) return { code: codeName(error.code), reason: error.reason, message: error.message };
  return { code: "INTERNAL", reason: "INTERNAL", message: "internal error" };
}

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString("utf8");
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  return Buffer.from(data).toString("utf8");
}
