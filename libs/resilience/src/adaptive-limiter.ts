/**
 * Admission in front of work whose safe concurrency is learnt, not configured: a call takes a
 * permit at once while fewer than the limit are in flight, may wait a short, bounded time in
 * a LIFO line otherwise (the newest caller is the likeliest to still be waiting for its
 * answer; the oldest times out first), and is refused at once when the line is full. Each
 * permit reports how its call ended, and the round trips feed the limit (GradientLimit, or a
 * fixed one).
 */
import { GradientLimit } from "./gradient-limit.js";

export type LimitRejection = "queue_full" | "deadline" | "wait_timeout" | "cancelled";

/**
 * Thrown when a call gets no permit; `reason` says why. A refusal is an expected outcome under
 * overload, thousands a second: the error carries no stack trace (capturing one is most of
 * what an Error costs, and it would only ever point here).
 */
export class LimitRejectedError extends Error {
  constructor(readonly reason: LimitRejection) {
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`no permit: ${reason}`);
    Error.stackTraceLimit = stackTraceLimit;
  }
}

/** A call's hold on the limit: exactly one of its methods counts (the others then do nothing). */
export interface Permit {
  /** The call finished: its round trip is a sample. */
  success(): void;
  /** The call finished in a way that says nothing about latency (the caller went away): no sample. */
  ignore(): void;
  /** The call timed out or was refused downstream: the limit backs off. */
  dropped(): void;
}

/** What the limiter asks of a limit algorithm. */
export interface LimitAlgorithm {
  readonly limit: number;
  addSample(now: number, rttMs: number, inflight: number, dropped: boolean): void;
}

/** A limit that never moves (adaptive limits turned off). */
export class FixedLimit implements LimitAlgorithm {
  constructor(readonly limit: number) {}
  addSample(): void {}
}

export interface AdaptiveLimiterOptions {
  limit: LimitAlgorithm;
  /** Callers that may wait for a permit; 0 = refuse at once when the limit is reached. */
  maxQueued: number;
  /** Monotonic clock in ms; injectable for tests. */
  now?: () => number;
}

interface Waiter {
  grant(): void;
  settled: boolean;
}

export class AdaptiveLimiter {
  private inflight = 0;
  private waiting = 0;
  /** Waiters, newest last; departed ones stay until popped or compacted. */
  private line: Waiter[] = [];
  private readonly now: () => number;

  constructor(private readonly options: AdaptiveLimiterOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  get limit(): number {
    return this.options.limit.limit;
  }

  stats(): { inflight: number; waiting: number; limit: number } {
    return { inflight: this.inflight, waiting: this.waiting, limit: this.limit };
  }

  /** A permit now, or undefined when the limit is reached (never waits). */
  tryAcquire(): Permit | undefined {
    if (this.inflight >= this.limit) return undefined;
    return this.take();
  }

  /** True when a caller that finds no permit now would be refused at once: the line is full. */
  get lineFull(): boolean {
    return this.waiting >= this.options.maxQueued;
  }

  /**
   * A permit, waiting up to `maxWaitMs` when the limit is reached and the line has room.
   * Rejects with LimitRejectedError: "queue_full" at once; "deadline" or "cancelled" when
   * `signal` aborts (deadline if `isDeadline(signal.reason)`); "wait_timeout" after maxWaitMs.
   */
  acquire(options: {
    maxWaitMs: number;
    signal?: AbortSignal;
    isDeadline?: (reason: unknown) => boolean;
  }): Promise<Permit> {
    const { signal } = options;
    const abortReason = (): LimitRejection => (options.isDeadline?.(signal!.reason) ? "deadline" : "cancelled");
    if (signal?.aborted) return Promise.reject(new LimitRejectedError(abortReason()));
    return new Promise((resolve, reject) => {
      let settled = false;
      const onAbort = () => leave(abortReason());
      const leave = this.wait(options.maxWaitMs, (outcome) => {
        settled = true;
        signal?.removeEventListener("abort", onAbort);
        if (typeof outcome === "string") reject(new LimitRejectedError(outcome));
        else resolve(outcome);
      });
      if (!settled) signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * acquire() without a promise, an AbortController or an Error, for callers that refuse
   * thousands of calls a second: `settle` is called exactly once, with a permit or the reason
   * there is none (at once, before wait returns, when there is a permit now or the line is
   * full). The function returned takes the caller out of the line: `settle` then gets
   * `reason` ("cancelled" unless told), or nothing happens if it was settled already.
   */
  wait(maxWaitMs: number, settle: (outcome: Permit | LimitRejection) => void): (reason?: LimitRejection) => void {
    const now = this.tryAcquire();
    if (now) {
      settle(now);
      return noop;
    }
    if (this.lineFull || maxWaitMs <= 0) {
      settle("queue_full");
      return noop;
    }
    const waiter: Waiter = { settled: false, grant: () => undefined };
    const done = () => {
      waiter.settled = true;
      this.waiting -= 1;
      clearTimeout(timer);
    };
    const leave = (reason: LimitRejection = "cancelled") => {
      if (waiter.settled) return;
      done();
      settle(reason);
      this.compact();
    };
    const timer = setTimeout(leave, maxWaitMs, "wait_timeout");
    waiter.grant = () => {
      done();
      settle(this.take());
    };
    this.line.push(waiter);
    this.waiting += 1;
    return leave;
  }

  private take(): Permit {
    this.inflight += 1;
    const startedAt = this.now();
    const inflightAtStart = this.inflight;
    let done = false;
    const finish = (sample: "success" | "ignore" | "dropped") => {
      if (done) return;
      done = true;
      this.inflight -= 1;
      if (sample !== "ignore") {
        const now = this.now();
        this.options.limit.addSample(now, now - startedAt, inflightAtStart, sample === "dropped");
      }
      this.grantWaiting();
    };
    return { success: () => finish("success"), ignore: () => finish("ignore"), dropped: () => finish("dropped") };
  }

  /** Hands free permits to the newest callers still waiting. */
  private grantWaiting(): void {
    while (this.inflight < this.limit && this.line.length > 0) {
      const waiter = this.line.pop()!;
      if (!waiter.settled) waiter.grant();
    }
  }

  /** Drops departed waiters (they leave from the old end, by timeout, mostly). */
  private compact(): void {
    if (this.line.length > 64 && this.waiting * 2 < this.line.length) this.line = this.line.filter((w) => !w.settled);
    else if (this.waiting === 0) this.line.length = 0;
  }
}

const noop = () => undefined;

export { GradientLimit };
