/**
 * Helpers the test suites share. Tests isolate themselves with unique names (schemas, key
 * prefixes, subjects) and wait by polling a predicate: a failing assert per poll is slow
 * under tsx (Node re-parses the source to word the message).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { dropSchema, embeddedTestDataDir } from "@weelo/db";
import { DomainError } from "@weelo/errors";
import { createLogger, type Logger } from "@weelo/log";

export { sleep };

/** A short random hex string for names that must not collide between tests or runs. */
export function uniqueSuffix(bytes = 5): string {
  return randomBytes(bytes).toString("hex");
}

/** Polls until condition() holds, for at most timeoutMs; fails naming what it waited for. */
export async function until(
  what: string,
  condition: () => Promise<boolean> | boolean,
  timeoutMs = 10_000,
  everyMs = 25,
): Promise<void> {
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

/**
 * A free port below the kernel's ephemeral range (ip_local_port_range, 32768+ by default), for a
 * server that is stopped and started again on the same port (the mesh harness's restarts). A
 * port from freePort() is in that range: while its server is down, any outgoing connection of
 * the machine may take it as its source port, and the restart then fails with EADDRINUSE.
 */
export async function restartablePort(): Promise<number> {
  let ephemeralFrom = 32768;
  try {
    ephemeralFrom = Number((await readFile("/proc/sys/net/ipv4/ip_local_port_range", "utf8")).trim().split(/\s+/)[0]);
  } catch {
    // Not Linux: the IANA dynamic range starts at 49152; stay below Linux's default anyway.
  }
  const low = 20_000;
  const high = Math.max(low + 1000, Math.min(ephemeralFrom, 32768)) - 1;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (restartablePortsGiven.has(port)) continue;
    // Taken before the bind is tried, so a caller asking meanwhile cannot pick it too.
    restartablePortsGiven.add(port);
    const server = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => resolve(true));
    });
    if (!bound) {
      restartablePortsGiven.delete(port);
      continue;
    }
    await new Promise((resolve) => server.close(resolve));
    return port;
  }
  throw new Error(`no free port between ${low} and ${high}`);
}
/** Ports this process handed out: two harnesses asking at once never get the same one. */
const restartablePortsGiven = new Set<number>();

/** A logger whose lines the test can read back. */
export function capturingLogger(service = "test"): {
  logger: Logger;
  lines: { msg: string; level: string; [key: string]: unknown }[];
} {
  const lines: { msg: string; level: string }[] = [];
  const logger = createLogger({
    service,
    level: "info",
    destination: { write: (s: string) => void lines.push(JSON.parse(s)) },
  });
  return { logger, lines };
}

/**
 * The environment of one isolated test process: the real servers when their URLs are set,
 * else the embedded stand-ins on a fresh copy of the PGlite template; its own schema prefix
 * and key prefix; ports chosen by the OS. `cleanup` drops the given services' schemas and
 * removes the data copy.
 */
export async function isolatedTestEnvironment(overrides: Record<string, string | undefined> = {}): Promise<{
  env: Record<string, string | undefined>;
  suffix: string;
  cleanup(services: readonly string[]): Promise<void>;
}> {
  const suffix = uniqueSuffix();
  const dataDir = await embeddedTestDataDir();
  const env: Record<string, string | undefined> = {
    NODE_ENV: "test",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    PORT: "0",
    HOST: "127.0.0.1",
    GRPC_PORT: "0",
    GRPC_HOST: "127.0.0.1",
    MESH_PORT: "0",
    MESH_HOST: "127.0.0.1",
    METRICS_PORT: "0",
    DATABASE_URL: process.env.DATABASE_URL,
    REDIS_URL: process.env.REDIS_URL,
    NATS_URL: process.env.NATS_URL,
    DATA_DIR: dataDir,
    DB_SCHEMA_PREFIX: `t_${suffix}_`,
    CACHE_KEY_PREFIX: `t:${suffix}:`,
    DB_POOL_MIN: "0",
    DB_POOL_MAX: "10",
    ...overrides,
  };
  return {
    env,
    suffix,
    async cleanup(services) {
      const url = env.DATABASE_URL;
      if (url)
        for (const service of services)
          await dropSchema(url, `${env.DB_SCHEMA_PREFIX}${service}`).catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The DomainError a call failed with (the test fails when it succeeded or failed otherwise). */
export async function failure(promise: Promise<unknown>): Promise<DomainError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error("expected the call to fail, but it succeeded");
}
