/**
 * Helpers the test suites share. Tests isolate themselves with unique names (schemas, key
 * prefixes, subjects) and wait by polling a predicate: a failing assert per poll is slow
 * under tsx (Node re-parses the source to word the message).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { createLogger, type Logger } from "@weelo/log";

export { sleep };

/** A short random hex string for names that must not collide between tests or runs. */
export function uniqueSuffix(bytes = 5): string {
  return randomBytes(bytes).toString("hex");
}

/** Polls until condition() holds, for at most timeoutMs; fails naming what it waited for. */
export async function until(what: string, condition: () => Promise<boolean> | boolean, timeoutMs = 10_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(everyMs);
  }
}

/** Retries fn until it resolves, for at most timeoutMs; then rethrows its last error. */
export async function retryUntilResolved(fn: () => Promise<unknown>, timeoutMs = 8000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fn();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(everyMs);
    }
  }
}

/** How long fn took and what it threw, if anything. */
export async function elapsed(fn: () => Promise<unknown>): Promise<{ ms: number; error: unknown }> {
  const start = Date.now();
  try {
    await fn();
    return { ms: Date.now() - start, error: undefined };
  } catch (error) {
    return { ms: Date.now() - start, error };
  }
}

/** A TCP port nothing listens on right now (for servers a test starts and stops itself). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A logger whose lines the test can read back. */
export function capturingLogger(service = "test"): { logger: Logger; lines: { msg: string; level: string; [key: string]: unknown }[] } {
  const lines: { msg: string; level: string }[] = [];
  const logger = createLogger({ service, level: "info", destination: { write: (s: string) => void lines.push(JSON.parse(s)) } });
  return { logger, lines };
}
