/**
 * The one polling loop of the codebase: runs a task every `everyMs`, never two runs at once.
 * A run that throws is logged (the first failure and every 60th, then once when it recovers)
 * and the loop carries on, waiting longer while it keeps failing when `maxBackoff` allows.
 * A run that reports more work waiting (resolves to true) is followed at once by the next;
 * `kick()` asks for a run now (after a run in progress, never beside it). Timers are unref'd,
 * so a loop alone never keeps a process alive; `stop()` resolves once the run in progress ends.
 *
 * Every replica of a service runs its own loops: tasks that must happen once per deployment
 * claim their work in the database (FOR UPDATE SKIP LOCKED), not here.
 */
import type { Logger } from "@weelo/log";

export interface PollingOptions {
  /** Names the loop in logs ("booking broadcast scheduler"). */
  name: string;
  /** Pause between two runs (ms). */
  everyMs: number;
  /** One run. Resolving to true (nothing else) means more work is waiting: the next run starts at once. */
  task: () => Promise<unknown>;
  logger: Pick<Logger, "warn" | "info">;
  /** Spread each pause by up to ± this share of it (0 to 1), so replicas do not run in step. */
  jitter?: number;
  /** While runs fail, the pause doubles per failure up to this many times `everyMs` (default 1: no backoff). */
  maxBackoff?: number;
  /** The first run waits one pause (default: it starts at once). */
  delayFirstRun?: boolean;
}

export interface Polling {
  /** Asks for a run now: at once when idle, right after the run in progress otherwise. */
  kick(): void;
  /** No more runs; resolves when the run in progress, if any, has ended. */
  stop(): Promise<void>;
}

/** Failures logged: the first, then every this many (a dead dependency is not logged every second). */
const LOG_EVERY_FAILURES = 60;

/** The pause after a run: `everyMs`, doubled per failure up to `maxBackoff` times, spread by `jitter`. */
export function pauseAfter(
  options: Pick<PollingOptions, "everyMs" | "jitter" | "maxBackoff">,
  failures: number,
  random: () => number = Math.random,
): number {
  const factor = failures > 0 ? Math.min(2 ** (failures - 1), options.maxBackoff ?? 1) : 1;
  const spread = Math.min(1, Math.max(0, options.jitter ?? 0));
  return Math.max(0, Math.round(options.everyMs * factor * (1 + spread * (2 * random() - 1))));
}

/**
 * A pause that ends at its timeout, on wake(), or when the signal aborts, whichever comes first:
 * a loop that waits for news (an event, a kick) with a timer as its safety net.
 */
export class Wakeable {
  private wakeUp: (() => void) | undefined;

  /** Ends the pause in progress, if any. */
  wake(): void {
    this.wakeUp?.();
  }

  pause(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        if (this.wakeUp === done) this.wakeUp = undefined;
        resolve();
      };
      // Never what keeps a process alive: servers and streams do that.
      const timer = setTimeout(done, ms);
      timer.unref();
      this.wakeUp = done;
      if (signal?.aborted) done();
      else signal?.addEventListener("abort", done, { once: true });
    });
  }
}

export function startPolling(options: PollingOptions): Polling {
  const { name, task, logger } = options;
  let running = true;
  let kicked = false;
  let failures = 0;
  const sleeper = new Wakeable();
  const pause = (ms: number) => sleeper.pause(ms);

  async function loop(): Promise<void> {
    if (options.delayFirstRun) await pause(pauseAfter(options, 0));
    while (running) {
      kicked = false;
      let more = false;
      try {
        more = (await task()) === true;
        if (failures > 0) logger.info({ loop: name, after: failures }, `${name} running again`);
        failures = 0;
      } catch (error) {
        failures++;
        if (failures === 1 || failures % LOG_EVERY_FAILURES === 0)
          logger.warn({ err: error, loop: name, failures }, `${name} failed; retrying`);
      }
      if (!running) break;
      if ((more || kicked) && failures === 0) continue;
      await pause(pauseAfter(options, failures));
    }
  }

  const done = loop();
  return {
    kick() {
      kicked = true;
      sleeper.wake();
    },
    async stop() {
      running = false;
      sleeper.wake();
      await done;
    },
  };
}
