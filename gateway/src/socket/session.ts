/**
 * One client's /socket connection: its identity (a token checked at once, re-checked for
 * revocation and expiry while the socket lives), its subscriptions, its frame budget (a token
 * bucket) and its output budget (a client that stops reading is closed as a slow consumer).
 */
import type { IncomingMessage } from "node:http";
import { bearerToken, type Principal } from "@weelo/auth";
import { requestIdFrom, type Logger } from "@weelo/log";
import { WebSocket, type RawData } from "ws";
import {
  CLOSE,
  FrameError,
  parseClientFrame,
  rawText,
  toErrorFrame,
  type ClientFrame,
  type ErrorFrame,
} from "./protocol.js";
import type { SocketCounters } from "./socket.metrics.js";
import type { SocketDeps } from "./socket-gateway.js";
import { Subscription } from "./subscription.js";

/** A stalled client never reads the close frame: it is dropped this long after being told. */
const CLOSE_GRACE_MS = 5000;
/** Refused frames beyond this many in a row: the client is ignoring the refusals, close it (1008). */
const MAX_REFUSED_FRAMES = 100;
export /** One client's socket: its identity, its subscriptions, its output budget. */
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
    private readonly counters: SocketCounters,
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
