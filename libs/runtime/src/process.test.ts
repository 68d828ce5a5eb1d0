/**
 * runMain through a real service main (pricing, embedded: its first start creates a PGlite
 * database, which takes seconds): SIGTERM/SIGINT are handled from before the start, so a signal
 * that arrives while the process is still starting stops it at once instead of being ignored
 * until the start ends (as PID 1 without an init, the default action does not apply).
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "../../..");
const dirs: string[] = [];

async function spawnPricing(): Promise<{
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}> {
  const dataDir = await mkdtemp(join(tmpdir(), "weelo-signals-"));
  dirs.push(dataDir);
  const env: Record<string, string | undefined> = {
    ...process.env,
    DATA_DIR: dataDir,
    GRPC_PORT: "0",
    MESH_PORT: "0",
    METRICS_PORT: "0",
    LOG_LEVEL: "info",
    SHUTDOWN_TIMEOUT_MS: "3000",
  };
  // Embedded everything: no server URLs from the test runner's environment.
  for (const key of ["DATABASE_URL", "REDIS_URL", "NATS_URL", "NODE_ENV", "NODE_TEST_CONTEXT"]) delete env[key];
  const child = spawn(process.execPath, ["--import", "tsx", "services/pricing/src/main.ts"], {
    cwd: root,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  return { child, output: () => output, exited };
}

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)),
  );
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe("a service main and signals", () => {
  after(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it("exits within seconds on SIGTERM sent right after spawn", async () => {
    const { child, exited } = await spawnPricing();
    child.kill("SIGTERM");
    const sent = Date.now();
    const exit = await within(exited, 3000, "exit after SIGTERM").finally(() => child.kill("SIGKILL"));
    assert.ok(exit.at - sent < 3000);
    assert.ok(exit.code === 0 || exit.signal === "SIGTERM", `exit ${JSON.stringify(exit)}`);
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`stops a start in progress (creating its database) on ${signal}, closing what it opened, and exits 0`, async () => {
      const { child, output, exited } = await spawnPricing();
      try {
        await within(
          new Promise<void>((resolve) => {
            const look = () =>
              /creating the embedded database|migrat/i.test(output()) ? resolve() : setTimeout(look, 20);
            look();
          }),
          60_000,
          "the start reaching the database",
        );
        assert.doesNotMatch(output(), /listening/i, "still starting");
        child.kill(signal);
        const sent = Date.now();
        const exit = await within(exited, 3000, `exit after ${signal}`);
        assert.ok(exit.at - sent < 3000, `${exit.at - sent} ms`);
        assert.equal(exit.code, 0, output());
        assert.match(output(), new RegExp(`${signal} during start: stopping the start`));
        assert.doesNotMatch(output(), /failed to start/);
      } finally {
        child.kill("SIGKILL");
      }
    });
  }
});
