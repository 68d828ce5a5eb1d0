/**
 * Runs a process's main: prints configuration errors plainly, turns SIGTERM/SIGINT into
 * one graceful shutdown bounded by SHUTDOWN_TIMEOUT_MS, and exits non-zero on a failed start.
 */
import { ConfigError } from "@weelo/config";
import type { Platform } from "./platform.js";

export async function runMain(start: () => Promise<Platform>): Promise<void> {
  let platform: Platform;
  try {
    platform = await start();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
    } else {
      console.error("failed to start:", error);
    }
    process.exit(1);
  }
  let signalled = false;
  const stop = (signal: string) => {
    if (signalled) {
      platform.logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    signalled = true;
    platform.logger.info({ signal }, "shutting down");
    const hardStop = setTimeout(() => {
      platform.logger.error("shutdown took too long; exiting");
      process.exit(1);
    }, platform.config.SHUTDOWN_TIMEOUT_MS + 1000);
    hardStop.unref();
    platform.shutdown().then(
      () => {
        platform.logger.info("stopped");
        process.exit(0);
      },
      (error: unknown) => {
        platform.logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}
