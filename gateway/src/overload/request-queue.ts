/**
 * A bounded FIFO of calls in front of a fixed number of slots. A call takes a slot at once if
 * one is free, waits in line if the line is not full, and is refused at once otherwise: the
 * gateway sheds load explicitly instead of letting latency grow without bound. A waiting call
 * leaves the line when its deadline passes or its caller goes away, so nobody waits for a
 * slot it can no longer use.
 */

export type ShedReason = "queue_full" | "deadline" | "wait_timeout" | "cancelled";

/** Thrown when a call gets no slot; `reason` says why. */
export class ShedError extends Error {
  constructor(
    readonly queue: string,
    readonly reason: ShedReason,
  ) {
    super(
      reason === "queue_full"
        ? `the server is busy (${queue} requests); try again shortly`
        : reason === "deadline"
          ? `the request's deadline passed while it waited for the server (${queue} requests)`
          : reason === "wait_timeout"
            ? `the server is busy (${queue} requests waited too long); try again shortly`
            : "the caller went away while waiting",
    );
  }
}

interface Waiter {
  grant: () => void;
  settled: boolean;
}

export interface QueueStats {
  active: number;
  waiting: number;
}

export class RequestQueue {
  private active = 0;
  /** Callers in line that have not left it (departed ones stay in `line` until compacted). */
  private waiting = 0;
  private readonly line: Waiter[] = [];
  private head = 0;

  constructor(
    readonly name: string,
    readonly concurrency: number,
    readonly maxQueued: number,
  ) {}

  stats(): QueueStats {
    return { active: this.active, waiting: this.waiting };
  }

  /**
   * A slot for one call; resolves with its release function (safe to call more than once).
   * Rejects with ShedError: at once when the line is full, or when `signal` aborts
   * ("deadline" if `signal.reason` says so, else "cancelled"), or after `maxWaitMs`.
   */
  acquire(options: {
    signal?: AbortSignal;
    maxWaitMs: number;
    isDeadline?: (reason: unknown) => boolean;
  }): Promise<() => void> {
    if (this.active < this.concurrency && this.waiting === 0) {
      this.active += 1;
      return Promise.resolve(this.releaser());
    }
    if (this.waiting >= this.maxQueued) return Promise.reject(new ShedError(this.name, "queue_full"));
    const { signal } = options;
    if (signal?.aborted)
      return Promise.reject(new ShedError(this.name, options.isDeadline?.(signal.reason) ? "deadline" : "cancelled"));

    return new Promise((resolve, reject) => {
      const waiter: Waiter = { settled: false, grant: () => undefined };
      const leave = (reason: ShedReason) => {
        if (waiter.settled) return;
        waiter.settled = true;
        this.waiting -= 1;
        cleanup();
        reject(new ShedError(this.name, reason));
        this.compact();
      };
      const onAbort = () => leave(options.isDeadline?.(signal!.reason) ? "deadline" : "cancelled");
      const timer = setTimeout(() => leave("wait_timeout"), options.maxWaitMs);
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      waiter.grant = () => {
        waiter.settled = true;
        this.waiting -= 1;
        cleanup();
        resolve(this.releaser());
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.line.push(waiter);
      this.waiting += 1;
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active -= 1;
      this.next();
    };
  }

  /** Hands free slots to the oldest callers still waiting. */
  private next(): void {
    while (this.active < this.concurrency && this.head < this.line.length) {
      const waiter = this.line[this.head]!;
      this.head += 1;
      if (waiter.settled) continue;
      this.active += 1;
      waiter.grant();
    }
    this.compact();
  }

  /** Drops departed waiters from the front and reclaims the array now and then. */
  private compact(): void {
    while (this.head < this.line.length && this.line[this.head]!.settled) this.head += 1;
    if (this.head > 1024 && this.head * 2 > this.line.length) {
      this.line.splice(0, this.head);
      this.head = 0;
    } else if (this.head === this.line.length) {
      this.line.length = 0;
      this.head = 0;
    }
  }
}

/** A cap on concurrent long-lived calls (streams): no line, a slot or an immediate refusal. */
export class SlotCounter {
  private open = 0;

  constructor(
    readonly name: string,
    readonly limit: number,
  ) {}

  get size(): number {
    return this.open;
  }

  /** A release function, or undefined when every slot is taken. */
  tryAcquire(): (() => void) | undefined {
    if (this.open >= this.limit) return undefined;
    this.open += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.open -= 1;
    };
  }
}
