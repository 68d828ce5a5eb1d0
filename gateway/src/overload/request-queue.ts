/**
 * What a shed call is told, and the cap on open streams. Unary calls wait (briefly) for a
 * permit of their class's adaptive limit (AdaptiveLimiter in @weelo/resilience); this is the
 * gateway's side of a refusal: why, in words a client can act on.
 */

export type ShedReason = "queue_full" | "loop_lag" | "deadline" | "wait_timeout" | "cancelled";

/** Thrown when a call gets no permit; `reason` says why. */
export class ShedError extends Error {
  constructor(
    readonly queue: string,
    readonly reason: ShedReason,
  ) {
    super(
      reason === "queue_full" || reason === "loop_lag"
        ? `the server is busy (${queue} requests); try again shortly`
        : reason === "deadline"
          ? `the request's deadline passed while it waited for the server (${queue} requests)`
          : reason === "wait_timeout"
            ? `the server is busy (${queue} requests waited too long); try again shortly`
            : "the caller went away while waiting",
    );
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
