/**
 * A consumer of another service's stream: the producer creates its stream when it starts, and
 * it may start after the consumer (or never have run yet), so the consumer keeps looking for
 * the stream in the background instead of failing its own start.
 */
import type { Logger } from "@weelo/log";
import type { Bus, ConsumeOptions, Consumer } from "./types.js";

export interface ConsumeWhenAvailableOptions extends ConsumeOptions {
  /** How long to wait before looking for the stream again; default 1 s. */
  streamWaitMs?: number;
}

export interface PendingConsumer {
  /** Resolves once the consumer runs, or once stop() ended the wait for the stream. */
  ready: Promise<void>;
  /** Stops looking for the stream, or stops the consumer (waiting for its handlers). */
  stop(): Promise<void>;
}

/** One warning at the first failed attempt, then one every this many, so a long wait stays visible without flooding the log. */
const LOG_EVERY_ATTEMPTS = 30;

/** Starts bus.consume(options), retrying every streamWaitMs until it succeeds (typically: until the stream exists) or stop() is called. */
export function consumeWhenAvailable(
  bus: Pick<Bus, "consume">,
  options: ConsumeWhenAvailableOptions,
  logger: Logger,
): PendingConsumer {
  const { streamWaitMs = 1000, ...consumeOptions } = options;
  const where = { stream: options.stream, durable: options.durable };
  let consumer: Consumer | undefined;
  let stopped = false;
  let wakeUp: (() => void) | undefined;

  const ready = (async () => {
    for (let failures = 0; !stopped; ) {
      try {
        const started = await bus.consume(consumeOptions);
        // stop() came while the consumer was being created: it must not outlive the stop.
        if (stopped) {
          await started.stop();
          return;
        }
        consumer = started;
        logger.info({ ...where, failedAttempts: failures }, `consuming stream ${options.stream}`);
        return;
      } catch (error) {
        if (stopped) return;
        failures++;
        if (failures === 1 || failures % LOG_EVERY_ATTEMPTS === 0) {
          logger.warn(
            { err: error, ...where, failedAttempts: failures, retryInMs: streamWaitMs },
            `cannot consume stream ${options.stream} yet (its producer may not have started); will look again`,
          );
        }
        await new Promise<void>((resolve) => {
          // Not unref'd: whoever awaits `ready` is waiting on this timer; stop() clears it.
          const timer = setTimeout(resolve, streamWaitMs);
          wakeUp = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wakeUp = undefined;
      }
    }
  })();

  return {
    ready,
    async stop() {
      stopped = true;
      wakeUp?.();
      await ready;
      const running = consumer;
      consumer = undefined;
      await running?.stop();
    },
  };
}
