/**
 * Admission control at the gateway: which endpoint class a call belongs to, its per-IP and
 * per-user rate limits (shared across replicas through Redis), its place in the class's
 * request queue, and a cap on open streams counted apart from unary slots (a stream that
 * lives for an hour must not hold a unary slot for an hour). Used by the Connect
 * interceptors (Connect, gRPC, gRPC-Web), by the REST aliases and by the /socket upgrade (a
 * class of its own with a per-IP budget of new sockets only); each answers a refusal the
 * way its protocol expects: 429 with RateLimit headers for a limit, 503 / RESOURCE_EXHAUSTED
 * with Retry-After for a shed.
 */
import type { Platform } from "@weelo/runtime";
import { createRequestLimiter, type RequestLimitDecision, type RequestLimiter } from "@weelo/resilience";
import client from "prom-client";
import type { GatewayConfig } from "../gateway.config.js";
import { RequestQueue, ShedError, SlotCounter, type ShedReason } from "./request-queue.js";

export const ENDPOINT_CLASSES = ["default", "booking", "tracking", "auth"] as const;
export type EndpointClass = (typeof ENDPOINT_CLASSES)[number];
export type LimitScope = "ip" | "user";
/** Every class with a rate limit: the endpoint classes, and new /socket connections (no queue: SOCKET_MAX_CONNECTIONS caps them). */
export const LIMIT_CLASSES = [...ENDPOINT_CLASSES, "socket"] as const;
export type LimitClass = (typeof LIMIT_CLASSES)[number];

/** The endpoint class of a public service: its own queue and its own budgets. */
export function endpointClassOf(serviceTypeName: string): EndpointClass {
  if (serviceTypeName === "weelo.identity.v1.AuthService") return "auth";
  if (serviceTypeName.startsWith("weelo.booking.")) return "booking";
  if (serviceTypeName.startsWith("weelo.tracking.")) return "tracking";
  return "default";
}

/** A refused call: over a rate limit. */
export class RateLimitedError extends Error {
  constructor(
    readonly scope: LimitScope,
    readonly decision: RequestLimitDecision,
  ) {
    super(
      `too many requests from this ${scope === "ip" ? "network address" : "account"}; try again in ${decision.resetSeconds} s`,
    );
  }
}

/** A refused stream: every stream slot of this process is taken. */
export class StreamsFullError extends Error {
  constructor() {
    super("the server has too many open streams; try again shortly");
  }
}

export interface AdmissionSettings {
  queues: Record<EndpointClass, { concurrency: number; maxQueued: number }>;
  maxQueueWaitMs: number;
  maxOpenStreams: number;
  rateLimits: {
    enabled: boolean;
    windowSeconds: number;
    perIp: Record<LimitClass, number>;
    perUser: Record<LimitClass, number>;
  };
}

export function admissionSettingsOf(config: GatewayConfig): AdmissionSettings {
  return {
    queues: {
      default: { concurrency: config.QUEUE_DEFAULT_CONCURRENCY, maxQueued: config.QUEUE_DEFAULT_MAX_QUEUED },
      booking: { concurrency: config.QUEUE_BOOKING_CONCURRENCY, maxQueued: config.QUEUE_BOOKING_MAX_QUEUED },
      tracking: { concurrency: config.QUEUE_TRACKING_CONCURRENCY, maxQueued: config.QUEUE_TRACKING_MAX_QUEUED },
      auth: { concurrency: config.QUEUE_AUTH_CONCURRENCY, maxQueued: config.QUEUE_AUTH_MAX_QUEUED },
    },
    maxQueueWaitMs: config.QUEUE_MAX_WAIT_MS,
    maxOpenStreams: config.MAX_OPEN_STREAMS,
    rateLimits: {
      enabled: config.RATE_LIMIT_ENABLED,
      windowSeconds: config.RATE_LIMIT_WINDOW_S,
      perIp: {
        default: config.RATE_LIMIT_DEFAULT_PER_IP,
        booking: config.RATE_LIMIT_BOOKING_PER_IP,
        tracking: config.RATE_LIMIT_TRACKING_PER_IP,
        auth: config.RATE_LIMIT_AUTH_PER_IP,
        socket: config.SOCKET_CONNECTS_PER_IP,
      },
      // Auth calls are public (no user yet), and a socket is opened before its token is checked: per address only.
      perUser: {
        default: config.RATE_LIMIT_DEFAULT_PER_USER,
        booking: config.RATE_LIMIT_BOOKING_PER_USER,
        tracking: config.RATE_LIMIT_TRACKING_PER_USER,
        auth: 0,
        socket: 0,
      },
    },
  };
}

export class Admission {
  readonly queues: Record<EndpointClass, RequestQueue>;
  readonly streams: SlotCounter;
  private readonly limiters = new Map<string, RequestLimiter>();
  private readonly shed: client.Counter<"class" | "reason">;
  private readonly limited: client.Counter<"class" | "scope">;
  private readonly waited: client.Histogram<"class">;

  constructor(
    readonly settings: AdmissionSettings,
    platform: Pick<Platform, "metrics" | "cache" | "config">,
  ) {
    this.queues = Object.fromEntries(
      ENDPOINT_CLASSES.map((name) => [
        name,
        new RequestQueue(name, settings.queues[name].concurrency, settings.queues[name].maxQueued),
      ]),
    ) as Record<EndpointClass, RequestQueue>;
    this.streams = new SlotCounter("streams", settings.maxOpenStreams);

    const redis = platform.cache.redisClient();
    const { rateLimits } = settings;
    if (rateLimits.enabled) {
      for (const name of LIMIT_CLASSES) {
        for (const scope of ["ip", "user"] as const) {
          const points = scope === "ip" ? rateLimits.perIp[name] : rateLimits.perUser[name];
          if (points <= 0) continue;
          const limiter = createRequestLimiter(
            {
              name: `gw-${name}-${scope}`,
              points,
              durationSeconds: rateLimits.windowSeconds,
              keyPrefix: platform.config.CACHE_KEY_PREFIX,
            },
            redis,
          );
          this.limiters.set(`${name}/${scope}`, limiter);
        }
      }
    }

    const registers = [platform.metrics.registry];
    const queues = this.queues;
    const streams = this.streams;
    new client.Gauge({
      name: "weelo_gateway_queue_active",
      help: "Unary calls holding a slot of their endpoint class's queue.",
      labelNames: ["class"] as const,
      registers,
      collect() {
        for (const name of ENDPOINT_CLASSES) this.set({ class: name }, queues[name].stats().active);
      },
    });
    new client.Gauge({
      name: "weelo_gateway_queue_depth",
      help: "Unary calls waiting in their endpoint class's queue.",
      labelNames: ["class"] as const,
      registers,
      collect() {
        for (const name of ENDPOINT_CLASSES) this.set({ class: name }, queues[name].stats().waiting);
      },
    });
    new client.Gauge({
      name: "weelo_gateway_open_streams",
      help: "Streaming calls open through the gateway (counted apart from unary slots).",
      registers,
      collect() {
        this.set(streams.size);
      },
    });
    this.waited = new client.Histogram({
      name: "weelo_gateway_queue_wait_seconds",
      help: "Time a unary call waited for a slot of its queue.",
      labelNames: ["class"] as const,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.shed = new client.Counter({
      name: "weelo_gateway_shed_total",
      help: "Calls refused by overload protection, by endpoint class and reason (queue_full, deadline, wait_timeout, streams_full).",
      labelNames: ["class", "reason"] as const,
      registers,
    });
    this.limited = new client.Counter({
      name: "weelo_gateway_rate_limited_total",
      help: "Calls (and new /socket connections, class socket) refused by a rate limit, by class and scope (ip or user).",
      labelNames: ["class", "scope"] as const,
      registers,
    });
  }

  /** True when the class has a budget in that scope (e.g. no per-user one for logins). */
  hasLimit(name: LimitClass, scope: LimitScope): boolean {
    return this.limiters.has(`${name}/${scope}`);
  }

  /**
   * Counts the call against the class's budget for the key; throws RateLimitedError when
   * over it. Returns the decision (for the RateLimit headers), or undefined when this class
   * and scope have no limit.
   */
  async checkLimit(name: LimitClass, scope: LimitScope, key: string): Promise<RequestLimitDecision | undefined> {
    const limiter = this.limiters.get(`${name}/${scope}`);
    if (!limiter) return undefined;
    const decision = await limiter.take(key);
    if (!decision.allowed) {
      this.limited.inc({ class: name, scope });
      throw new RateLimitedError(scope, decision);
    }
    return decision;
  }

  /** A unary slot of the class's queue; throws ShedError when refused. */
  async enterUnary(
    name: EndpointClass,
    signal: AbortSignal | undefined,
    isDeadline?: (reason: unknown) => boolean,
  ): Promise<() => void> {
    const started = performance.now();
    try {
      const release = await this.queues[name].acquire({
        maxWaitMs: this.settings.maxQueueWaitMs,
        ...(signal ? { signal } : {}),
        ...(isDeadline ? { isDeadline } : {}),
      });
      this.waited.observe({ class: name }, (performance.now() - started) / 1000);
      return release;
    } catch (error) {
      if (error instanceof ShedError && error.reason !== "cancelled")
        this.shed.inc({ class: name, reason: error.reason });
      throw error;
    }
  }

  /** A stream slot; throws StreamsFullError when every one is taken. */
  enterStream(name: EndpointClass): () => void {
    const release = this.streams.tryAcquire();
    if (!release) {
      this.shed.inc({ class: name, reason: "streams_full" });
      throw new StreamsFullError();
    }
    return release;
  }
}

/** The RateLimit headers of the tighter of the decisions (the one with the fewest requests left). */
export function rateLimitHeaders(decisions: readonly (RequestLimitDecision | undefined)[]): Record<string, string> {
  let tightest: RequestLimitDecision | undefined;
  for (const decision of decisions) {
    if (decision && (!tightest || decision.remaining < tightest.remaining)) tightest = decision;
  }
  if (!tightest) return {};
  const headers: Record<string, string> = {
    "ratelimit-limit": String(tightest.limit),
    "ratelimit-remaining": String(tightest.remaining),
    "ratelimit-reset": String(tightest.resetSeconds),
    "ratelimit-policy": `${tightest.limit};w=${tightest.windowSeconds}`,
  };
  if (!tightest.allowed) headers["retry-after"] = String(tightest.resetSeconds);
  return headers;
}

export { ShedError, type ShedReason };
