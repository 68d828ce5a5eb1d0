/**
 * Every external provider call (SMS, push, routing) goes through a guard built here from
 * cockatiel: a timeout, then a circuit breaker that stops hammering a failing provider and
 * answers UNAVAILABLE at once while it is open. State changes are logged and exported as a
 * metric so an operator sees an open breaker.
 */
import {
  BrokenCircuitError,
  circuitBreaker,
  ConsecutiveBreaker,
  CircuitState,
  handleWhen,
  TaskCancelledError,
  timeout,
  TimeoutStrategy,
  wrap,
  bulkhead,
  BulkheadRejectedError,
} from "cockatiel";
import { DomainError, UnavailableError } from "@weelo/errors";
import type { Logger } from "@weelo/log";
import type { Metrics } from "@weelo/metrics";

export interface GuardOptions {
  /** Name in logs and the weelo_circuit_breaker_state metric, e.g. "sms-msg91". */
  name: string;
  logger: Logger;
  metrics?: Metrics;
  /** Give up on one call after this long. */
  timeoutMs?: number;
  /** Open the circuit after this many failures in a row. */
  consecutiveFailures?: number;
  /** Let one trial call through after the circuit has been open this long. */
  halfOpenAfterMs?: number;
  /** Failures that are the caller's fault (e.g. a 4xx answer) do not count toward opening. */
  isProviderFailure?: (error: Error) => boolean;
}

export interface Guard {
  /** Runs fn under the timeout and breaker; the signal aborts fn when the timeout passes. */
  execute<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T>;
  /** "closed", "open", "half-open" or "isolated". */
  state(): string;
}

const STATE_VALUE: Record<CircuitState, number> = {
  [CircuitState.Closed]: 0,
  [CircuitState.HalfOpen]: 1,
  [CircuitState.Open]: 2,
  [CircuitState.Isolated]: 2,
};

const STATE_NAME: Record<CircuitState, string> = {
  [CircuitState.Closed]: "closed",
  [CircuitState.HalfOpen]: "half-open",
  [CircuitState.Open]: "open",
  [CircuitState.Isolated]: "isolated",
};

export function createGuard(options: GuardOptions): Guard {
  const isProviderFailure =
    options.isProviderFailure ?? ((error: Error) => !(error instanceof DomainError) || error.code === 14);
  const breaker = circuitBreaker(handleWhen(isProviderFailure), {
    halfOpenAfter: options.halfOpenAfterMs ?? 30_000,
    breaker: new ConsecutiveBreaker(options.consecutiveFailures ?? 5),
  });
  const gauge = options.metrics?.circuitState.labels({ breaker: options.name });
  gauge?.set(0);
  breaker.onStateChange((state) => {
    gauge?.set(STATE_VALUE[state]);
    const log = state === CircuitState.Closed ? options.logger.info : options.logger.warn;
    log.call(options.logger, { breaker: options.name, state: STATE_NAME[state] }, `circuit ${STATE_NAME[state]}`);
  });
  const policy = wrap(breaker, timeout(options.timeoutMs ?? 5_000, TimeoutStrategy.Aggressive));

  return {
    async execute<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
      try {
        return await policy.execute(({ signal }) => fn(signal));
      } catch (error) {
        if (error instanceof BrokenCircuitError) {
          throw new UnavailableError(`${options.name} is failing; try again shortly`, {
            reason: "PROVIDER_UNAVAILABLE",
            retryAfterSeconds: 30,
          });
        }
        if (error instanceof TaskCancelledError) {
          throw new UnavailableError(`${options.name} did not answer in time`, { reason: "PROVIDER_TIMEOUT" });
        }
        throw error;
      }
    },
    state: () => STATE_NAME[breaker.state],
  };
}

/** Limits concurrent work to `limit` with `queue` waiting; beyond that, an immediate UNAVAILABLE. */
export function createBulkhead(limit: number, queue = 0) {
  const policy = bulkhead(limit, queue);
  return {
    async execute<T>(fn: () => Promise<T>): Promise<T> {
      try {
        return await policy.execute(fn);
      } catch (error) {
        if (error instanceof BulkheadRejectedError) {
          throw new UnavailableError("the server is busy; try again shortly", {
            reason: "OVERLOADED",
            retryAfterSeconds: 1,
          });
        }
        throw error;
      }
    },
    get executionSlots() {
      return policy.executionSlots;
    },
    get queueSlots() {
      return policy.queueSlots;
    },
  };
}

export {
  createRateLimiter,
  createRequestLimiter,
  type RateLimiter,
  type RateLimitSettings,
  type RequestLimiter,
  type RequestLimitDecision,
  type RequestLimitSettings,
} from "./rate-limit.js";
export {
  AdaptiveLimiter,
  type AdaptiveLimiterOptions,
  FixedLimit,
  type LimitAlgorithm,
  LimitRejectedError,
  type LimitRejection,
  type Permit,
} from "./adaptive-limiter.js";
export { EventLoopLag, type EventLoopLagOptions } from "./event-loop-lag.js";
export { GradientLimit, type GradientLimitSettings } from "./gradient-limit.js";
