/**
 * The system under simulation when the simulator starts it (`--start`): the all-in-one
 * process as a child (`node --import tsx system/src/all-in-one.ts`) in a temporary data
 * directory, on the embedded defaults or, when DATABASE_URL/REDIS_URL/NATS_URL are set, on
 * those servers in a schema, key prefix and streams of its own (removed afterwards). And the
 * faults: restarting that child, and the local NATS and Redis servers, bounded and timed.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { restartablePort } from "@weelo/testing";

const ROOT = new URL("..", import.meta.url).pathname;

/** Services with a schema of their own, dropped after a run on a real Postgres. */
const SCHEMAS = ["identity", "fleet", "pricing", "booking", "tracking", "notification", "dispatch"];

export interface SystemChild {
  url: string;
  env: Record<string, string>;
  logPath: string;
  /** Stops the child gracefully, keeps it down for downMs, starts it again; returns when it is ready. */
  restart(downMs: number): Promise<{ readyAfterMs: number }>;
  stop(): Promise<void>;
}

/** Polls the gateway's readiness until it answers 200, for at most timeoutMs. */
export async function waitReady(url: string, timeoutMs: number, alive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!alive()) throw new Error("the system exited while starting (see its log)");
    try {
      const response = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(2000) });
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the system at ${url} was not ready within ${timeoutMs / 1000} s`);
    await sleep(200);
  }
}

export async function startSystemChild(overrides: Record<string, string>): Promise<SystemChild> {
  const dataDir = await mkdtemp(join(tmpdir(), "weelo-sim-"));
  const suffix = Math.random().toString(16).slice(2, 10);
  // Below the ephemeral range, so no outgoing connection takes them before the child binds them.
  const [port, grpcPort] = [await restartablePort(), await restartablePort()];
  const env: Record<string, string> = {
    ...(Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined)) as Record<string, string>),
    NODE_ENV: "development",
    LOG_LEVEL: "warn",
    HOST: "127.0.0.1",
    PORT: String(port),
    GRPC_HOST: "127.0.0.1",
    GRPC_PORT: String(grpcPort),
    DATA_DIR: dataDir,
    // One machine logs every simulated user in: the per-IP OTP limit is for the open internet.
    OTP_PER_IP_PER_HOUR: "100000",
  };
  Object.assign(env, isolation(env, suffix));
  Object.assign(env, overrides);
  const url = `http://127.0.0.1:${port}`;
  const logPath = join(dataDir, "system.log");
  const log = createWriteStream(logPath, { flags: "a" });
  let child: ChildProcess | undefined;
  let exited = true;

  const spawnChild = () => {
    const started = spawn(process.execPath, ["--import", "tsx", "system/src/all-in-one.ts"], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    exited = false;
    started.stdout!.pipe(log, { end: false });
    started.stderr!.pipe(log, { end: false });
    started.once("exit", () => (exited = true));
    child = started;
  };
  const stopChild = async () => {
    const running = child;
    if (!running || exited) return;
    const gone = new Promise<void>((resolve) => running.once("exit", () => resolve()));
    running.kill("SIGTERM");
    const timer = setTimeout(() => running.kill("SIGKILL"), 20_000);
    await gone;
    clearTimeout(timer);
  };

  // Whatever ends the simulator (even a crash), the system it started does not outlive it.
  process.once("exit", () => {
    if (!exited) child?.kill("SIGTERM");
  });
  spawnChild();
  try {
    await waitReady(url, 90_000, () => !exited);
  } catch (error) {
    await stopChild();
    throw new Error(`${(error as Error).message}; log: ${logPath}`);
  }
  return {
    url,
    env,
    logPath,
    async restart(downMs) {
      const at = Date.now();
      await stopChild();
      await sleep(downMs);
      spawnChild();
      await waitReady(url, 90_000, () => !exited);
      return { readyAfterMs: Date.now() - at };
    },
    async stop() {
      await stopChild();
      log.end();
      await cleanUp(env);
      if (!process.env.SIM_KEEP_DATA) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * What keeps a run apart from everything else on the real servers: a schema prefix on Postgres,
 * a key prefix on Redis, streams and subject roots of its own on NATS (none on the embedded defaults).
 */
export function isolation(env: Record<string, string | undefined>, suffix: string): Record<string, string> {
  const own: Record<string, string> = {};
  if (env.DATABASE_URL) own.DB_SCHEMA_PREFIX = `sim_${suffix}_`;
  if (env.REDIS_URL) own.CACHE_KEY_PREFIX = `sim:${suffix}:`;
  if (env.NATS_URL) {
    // Streams own their subjects server-wide: this run gets its own.
    Object.assign(own, {
      FLEET_STREAM: `SIM_FLEET_${suffix}`,
      FLEET_SUBJECT_ROOT: `sim_${suffix}_fleet`,
      BOOKING_STREAM: `SIM_BOOKING_${suffix}`,
      BOOKING_SUBJECT_ROOT: `sim_${suffix}_booking`,
      TRACKING_STREAM: `SIM_TRACKING_${suffix}`,
      TRACKING_SUBJECT_ROOT: `sim_${suffix}_tracking`,
      DISPATCH_STREAM: `SIM_DISPATCH_${suffix}`,
      DISPATCH_SUBJECT_ROOT: `sim_${suffix}_dispatch`,
      NOTIFY_DLQ_STREAM: `SIM_NOTIFY_DLQ_${suffix}`,
      NOTIFY_SUBJECT_ROOT: `sim_${suffix}_notification`,
      NOTIFY_DURABLE_PREFIX: `sim_${suffix}_notification`,
    });
  }
  return own;
}

/** Drops the run's schemas and streams on the real servers (nothing to do on the embedded defaults). */
export async function cleanUp(env: Record<string, string>): Promise<void> {
  if (env.DATABASE_URL && env.DB_SCHEMA_PREFIX) {
    const { dropSchema } = await import("@weelo/db");
    for (const service of SCHEMAS)
      await dropSchema(env.DATABASE_URL, `${env.DB_SCHEMA_PREFIX}${service}`).catch(() => undefined);
  }
  if (env.NATS_URL && env.BOOKING_STREAM?.startsWith("SIM_")) {
    const [{ createBus }, { createLogger }] = await Promise.all([import("@weelo/bus"), import("@weelo/log")]);
    const bus = createBus({
      config: { NATS_URL: env.NATS_URL },
      service: "weelo-sim",
      logger: createLogger({ service: "weelo-sim", level: "silent" }),
    });
    try {
      for (const name of [
        "FLEET_STREAM",
        "BOOKING_STREAM",
        "TRACKING_STREAM",
        "DISPATCH_STREAM",
        "NOTIFY_DLQ_STREAM",
      ]) {
        if (env[name]) await bus.deleteStream(env[name]!).catch(() => false);
      }
    } finally {
      await bus.close().catch(() => undefined);
    }
  }
}

// ---------------------------------------------------------------------------------- local servers

/** True when something accepts TCP connections on host:port. */
export function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/** The id of the process listening on a local TCP port (from `ss`), if any. */
export function listenerPid(port: number): number | undefined {
  const out = execFileSync("ss", ["-ltnpH", `sport = :${port}`], { encoding: "utf8" });
  const match = /pid=(\d+)/.exec(out);
  return match ? Number(match[1]) : undefined;
}

/** A local server the fault mode may restart: how to find it and how this machine starts it. */
export interface LocalServer {
  name: string;
  port: number;
  start: [string, string[]];
}

/** How this machine starts NATS and Redis (the commands of .ci/run and the machine's page). */
export const LOCAL_SERVERS: Record<"nats" | "redis", LocalServer> = {
  nats: {
    name: "NATS server",
    port: 4222,
    start: [
      "start-stop-daemon",
      [
        "--start",
        "--oknodo",
        "--background",
        "--exec",
        "/usr/sbin/nats-server",
        "--",
        "-a",
        "127.0.0.1",
        "-p",
        "4222",
        "-js",
        "-sd",
        "/var/lib/nats-server",
        "-l",
        "/var/log/nats-server.log",
      ],
    ],
  },
  redis: {
    name: "Redis server",
    port: 6379,
    start: [
      "redis-server",
      [
        "--daemonize",
        "yes",
        "--bind",
        "127.0.0.1",
        "-::1",
        "--port",
        "6379",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        "/var/lib/redis",
        "--logfile",
        "/var/log/redis/ci.log",
      ],
    ],
  },
};

/**
 * Stops the server listening on its local port (SIGTERM to that one process id), keeps it
 * down for downMs, and starts it again with this machine's command; returns when it answers.
 */
export async function restartLocalServer(server: LocalServer, downMs: number): Promise<void> {
  const pid = listenerPid(server.port);
  if (!pid) throw new Error(`no process listens on 127.0.0.1:${server.port} (${server.name})`);
  process.kill(pid, "SIGTERM");
  const stopBy = Date.now() + 10_000;
  while ((await answers("127.0.0.1", server.port)) && Date.now() < stopBy) await sleep(100);
  await sleep(downMs);
  execFileSync(server.start[0], server.start[1], { stdio: "ignore" });
  const upBy = Date.now() + 30_000;
  while (!(await answers("127.0.0.1", server.port))) {
    if (Date.now() > upBy) throw new Error(`${server.name} did not come back on port ${server.port}`);
    await sleep(100);
  }
}
