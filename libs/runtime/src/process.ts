/**
 * Runs a process's main: prints configuration errors plainly, turns SIGTERM/SIGINT into
 * one graceful shutdown bounded by SHUTDOWN_TIMEOUT_MS, and exits non-zero on a failed start.
 *
 * The signal handlers are installed before the start begins. A process that is PID 1 (a
 * container without an init) gets no default action for SIGTERM, so a signal during a long
 * start (migrations, a first embedded database) used to be ignored until the start ended. Now a
 * signal during start stops it: whatever was already opened (every platform begun, see
 * shutdownBegunPlatforms) is shut down, bounded, and the process exits 0 (1 if the bound or a
 * second signal cut it short).
 */
import { ConfigError } from "@weelo/config";
import { shutdownBegunPlatforms, type Platform } from "./platform.js";

/** SHUTDOWN_TIMEOUT_MS before any configuration is parsed (its schema default otherwise). */
function shutdownBoundMs(): number {
  const configured = Number(process.env.SHUTDOWN_TIMEOUT_MS);
  return Number.isInteger(configured) && configured >= 100 ? configured : 10_000;
}

export async function runMain(start: () => Promise<Platform>): Promise<void> {
  let platform: Platform | undefined;
  let signalled = false;
  const stop = (signal: string) => {
    if (signalled) {
      if (platform) platform.logger.warn({ signal }, "second signal: exiting now");
      else console.error(`${signal}: second signal: exiting now`);
      process.exit(1);
    }
    signalled = true;
    const bound = platform?.config.SHUTDOWN_TIMEOUT_MS ?? shutdownBoundMs();
    const hardStop = setTimeout(() => {
      if (platform) platform.logger.error("shutdown took too long; exiting");
      else console.error("stopping the start took too long; exiting");
      process.exit(1);
    }, bound + 1000);
    hardStop.unref();
    if (platform) {
      platform.logger.info({ signal }, "shutting down");
    } else {
      console.error(`${signal} during start: stopping the start and closing what it opened`);
    }
    const started = platform;
    (started ? started.shutdown() : shutdownBegunPlatforms()).then(
      () => {
        if (started) started.logger.info("stopped");
        process.exit(0);
      },
      (error: unknown) => {
        if (started) started.logger.error({ err: error }, "shutdown failed");
        else console.error("stopping the start failed:", error);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));

  try {
    platform = await start();
  } catch (error) {
    if (signalled) return; // the signal's stop owns the exit
    if (error instanceof ConfigError) {
      console.error(error.message);
    } else {
      console.error("failed to start:", error);
    }
    process.exit(1);
  }
  // A signal during start already runs shutdownBegunPlatforms, which includes this platform.
}
