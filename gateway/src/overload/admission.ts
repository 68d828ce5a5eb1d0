/**
 * Admission control at the gateway: which endpoint class a call belongs to, its per-IP and
 * per-user rate limits (shared across replicas through Redis), an adaptive concurrency limit
 * per class (a Gradient2 limit learnt from the calls' round trips, capped by the class's
 * QUEUE_*_CONCURRENCY, with a short LIFO line in front), and a cap on open streams counted
 * apart (a stream that lives for an hour must not hold a unary permit for an hour). The
 * concurrency limit is applied to the raw HTTP request (http-admission.ts), before its body
 * is read or its token verified; the rate limits after, by the Connect interceptors, the REST
 * aliases and the /socket upgrade (a class of its own with a per-IP budget of new sockets).
 */
import type { Platform } from "@weelo/runtime";
import {
  AdaptiveLimiter,
  createRequestLimiter,
  EventLoopLag,
  FixedLimit,
  GradientLimit,
  type Permit,
  type RequestLimitDecision,
  type RequestLimiter,
} from "@weelo/resilience";
import client from "prom-client";
import type { GatewayConfig } from "../gateway.config.js";
import { ShedError, SlotCounter, type ShedReason } from "./request-queue.js";

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
  /** Per class: the ceiling of its concurrency limit, and how many calls may wait for a permit. */
  queues: Record<EndpointClass, { concurrency: number; maxQueued: number }>;
  maxQueueWaitMs: number;
  /** The longest wait while the class is overloaded (capped by maxQueueWaitMs). */
  overloadedQueueWaitMs: number;
  /** Learn each class's limit (Gradient2) between min and the class's ceiling; false = the ceiling, fixed. */
  adaptive: { enabled: boolean; minLimit: number; initialLimit: number; tolerance: number; maxLoopLagMs: number };
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
    overloadedQueueWaitMs: config.QUEUE_OVERLOADED_WAIT_MS,
    adaptive: {
      enabled: config.ADAPTIVE_LIMIT_ENABLED,
      minLimit: config.ADAPTIVE_LIMIT_MIN,
      initialLimit: config.ADAPTIVE_LIMIT_INITIAL,
      tolerance: config.ADAPTIVE_LIMIT_TOLERANCE,
      maxLoopLagMs: config.ADAPTIVE_LIMIT_MAX_LOOP_LAG_MS,
    },
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

/**
 * How long after its last refusal for a full line, for lag or at the end of a wait a class
 * counts as overloaded: while it is, a call that finds no permit waits at most
 * overloadedQueueWaitMs, and is refused at once while the event loop lags more than that.
 */
const OVERLOAD_MEMORY_MS = 1000;

/** Why a call was refused, as counted in weelo_gateway_shed_total. */
export type ShedCause = Exclude<ShedReason, "cancelled"> | "streams_full";
const SHED_CAUSES: readonly ShedCause[] = ["queue_full", "loop_lag", "deadline", "wait_timeout", "streams_full"];

export class Admission {
  readonly limiters: Record<EndpointClass, AdaptiveLimiter>;
  readonly streams: SlotCounter;
  private readonly rateLimiters = new Map<string, RequestLimiter>();
  /**
   * Refusals not yet handed to weelo_gateway_shed_total: a plain count per refusal (a
   * prom-client inc hashes its labels each time), flushed into the counter when it is read.
   */
  private readonly shedCounts: Record<EndpointClass, Record<ShedCause, number>>;
  private readonly limited: client.Counter<"class" | "scope">;
  private readonly waited: client.Histogram<"class">;
  private readonly loopLag: { readonly ms: number };
  /** When each class last refused a call for a full line or for lag (performance.now()). */
  private readonly overloadSeenAt: Record<EndpointClass, number> = {
    default: -Infinity,
    booking: -Infinity,
    tracking: -Infinity,
    auth: -Infinity,
  };

  constructor(
    readonly settings: AdmissionSettings,
    platform: Pick<Platform, "metrics" | "cache" | "config">,
    /** How late the event loop runs (ms); injectable for tests. */
    loopLag: { readonly ms: number } = new EventLoopLag(),
  ) {
    this.loopLag = loopLag;
    const { adaptive } = settings;
    this.limiters = Object.fromEntries(
      ENDPOINT_CLASSES.map((name) => {
        const { concurrency, maxQueued } = settings.queues[name];
        const minLimit = Math.min(adaptive.minLimit, concurrency);
        const limit = adaptive.enabled
          ? new GradientLimit({
              minLimit,
              maxLimit: concurrency,
              initialLimit: Math.max(minLimit, Math.min(adaptive.initialLimit, concurrency)),
              tolerance: adaptive.tolerance,
              congested: adaptive.maxLoopLagMs > 0 ? () => this.loopLag.ms > adaptive.maxLoopLagMs : undefined,
            })
          : new FixedLimit(concurrency);
        return [name, new AdaptiveLimiter({ limit, maxQueued })];
      }),
    ) as Record<EndpointClass, AdaptiveLimiter>;
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
          this.rateLimiters.set(`${name}/${scope}`, limiter);
        }
      }
    }

    const registers = [platform.metrics.registry];
    const limiters = this.limiters;
    const streams = this.streams;
    new client.Gauge({
      name: "weelo_gateway_queue_active",
      help: "Unary calls in flight holding a permit of their endpoint class's concurrency limit.",
      labelNames: ["class"] as const,
      registers,
      collect() {
        for (const name of ENDPOINT_CLASSES) this.set({ class: name }, limiters[name].stats().inflight);
      },
    });
    new client.Gauge({
      name: "weelo_gateway_queue_depth",
      help: "Unary calls waiting for a permit of their endpoint class.",
      labelNames: ["class"] as const,
      registers,
      collect() {
        for (const name of ENDPOINT_CLASSES) this.set({ class: name }, limiters[name].stats().waiting);
      },
    });
    new client.Gauge({
      name: "weelo_gateway_concurrency_limit",
      help: "The endpoint class's current concurrency limit (learnt from round trips, capped by QUEUE_<CLASS>_CONCURRENCY).",
      labelNames: ["class"] as const,
      registers,
      collect() {
        for (const name of ENDPOINT_CLASSES) this.set({ class: name }, limiters[name].limit);
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
      help: "Time a unary call waited for a permit of its endpoint class.",
      labelNames: ["class"] as const,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    const shedCounts = Object.fromEntries(
      ENDPOINT_CLASSES.map((name) => [name, Object.fromEntries(SHED_CAUSES.map((cause) => [cause, 0]))]),
    ) as Record<EndpointClass, Record<ShedCause, number>>;
    this.shedCounts = shedCounts;
    new client.Counter({
      name: "weelo_gateway_shed_total",
      help: "Calls refused by overload protection, by endpoint class and reason (queue_full, loop_lag, deadline, wait_timeout, streams_full).",
      labelNames: ["class", "reason"] as const,
      registers,
      collect() {
        for (const name of ENDPOINT_CLASSES) {
          const counts = shedCounts[name];
          for (const cause of SHED_CAUSES) {
            if (counts[cause] === 0) continue;
            this.inc({ class: name, reason: cause }, counts[cause]);
            counts[cause] = 0;
          }
        }
      },
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
    return this.rateLimiters.has(`${name}/${scope}`);
  }

  /**
   * Counts the call against the class's budget for the key; throws RateLimitedError when
   * over it. Returns the decision (for the RateLimit headers), or undefined when this class
   * and scope have no limit.
   */
  async checkLimit(name: LimitClass, scope: LimitScope, key: string): Promise<RequestLimitDecision | undefined> {
    const limiter = this.rateLimiters.get(`${name}/${scope}`);
    if (!limiter) return undefined;
    const decision = await limiter.take(key);
    if (!decision.allowed) {
      this.limited.inc({ class: name, scope });
      throw new RateLimitedError(scope, decision);
    }
    return decision;
  }

  /** A permit of the class's concurrency limit now, or undefined when the limit is reached. */
  tryUnary(name: EndpointClass): Permit | undefined {
    const permit = this.limiters[name].tryAcquire();
    if (permit) this.waited.observe({ class: name }, 0);
    return permit;
  }

  /**
   * The longest a call of the class may wait for a permit now: QUEUE_MAX_WAIT_MS, or while the
   * class is overloaded the shorter QUEUE_OVERLOADED_WAIT_MS. The line then still hands a freed
   * permit to the newest caller, but the waits that end in a refusal end soon.
   */
  private lineWaitMs(name: EndpointClass, now: number): number {
    const { maxQueueWaitMs, overloadedQueueWaitMs } = this.settings;
    return now - this.overloadSeenAt[name] < OVERLOAD_MEMORY_MS
      ? Math.min(maxQueueWaitMs, overloadedQueueWaitMs)
      : maxQueueWaitMs;
  }

  /**
   * For a call that found no permit: the reason it is refused without waiting, or undefined
   * when it may wait. "queue_full": the line is full. "loop_lag": the class is overloaded (its
   * line overflowed, it refused for lag, or a wait ran out, within the last second) and the
   * event loop runs later than the longest wait. A waiter's timer then fires late: the waits
   * that end in a refusal (the oldest, under a LIFO line) take the wait plus the lag, and under
   * sustained overload a freed permit finds a new caller at once anyway, so the line adds only
   * latency. Until the class is overloaded, calls still wait however the loop lags. Counts the
   * refusal.
   */
  refuseAtOnce(name: EndpointClass): "queue_full" | "loop_lag" | undefined {
    let reason: "queue_full" | "loop_lag" | undefined;
    const now = performance.now();
    if (this.limiters[name].lineFull || this.settings.maxQueueWaitMs <= 0) {
      reason = "queue_full";
      this.overloadSeenAt[name] = now;
    } else if (now - this.overloadSeenAt[name] < OVERLOAD_MEMORY_MS && this.loopLag.ms > this.lineWaitMs(name, now)) {
      reason = "loop_lag";
      this.overloadSeenAt[name] = now;
    }
    if (reason) this.shedCounts[name][reason] += 1;
    return reason;
  }

  /**
   * Waits at most the class's line wait (QUEUE_MAX_WAIT_MS, or QUEUE_OVERLOADED_WAIT_MS while it
   * is overloaded; the call's own shorter deadline ends it sooner) for a permit, without
   * a promise or an Error: `settle` gets the permit and the wait, or the reason of the refusal
   * ("deadline" when the wait ran out at the caller's own deadline; "cancelled" after the
   * returned function was called, e.g. the client left). Refusals are counted; a wait that runs
   * out marks the class overloaded.
   */
  waitUnary(
    name: EndpointClass,
    deadlineMs: number | undefined,
    settle: (outcome: { permit: Permit; waitedMs: number } | ShedReason) => void,
  ): () => void {
    const started = performance.now();
    const waitMs = this.lineWaitMs(name, started);
    const deadlineFirst = deadlineMs !== undefined && deadlineMs <= waitMs;
    const leave = this.limiters[name].wait(deadlineFirst ? deadlineMs : waitMs, (outcome) => {
      if (typeof outcome !== "string") {
        const waitedMs = performance.now() - started;
        this.waited.observe({ class: name }, waitedMs / 1000);
        settle({ permit: outcome, waitedMs });
        return;
      }
      const reason: ShedReason = outcome === "wait_timeout" && deadlineFirst ? "deadline" : outcome;
      if (reason === "wait_timeout") this.overloadSeenAt[name] = performance.now();
      if (reason !== "cancelled") this.shedCounts[name][reason] += 1;
      settle(reason);
    });
    return () => leave();
  }

  /** A stream slot's release, or undefined (the refusal counted) when every one is taken. */
  enterStream(name: EndpointClass): (() => void) | undefined {
    const release = this.streams.tryAcquire();
    if (!release) this.shedCounts[name].streams_full += 1;
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
