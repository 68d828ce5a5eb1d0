/**
 * Private Postgres, Redis and NATS servers for the mesh fault run, which restarts them under
 * load: the shared servers on 5432/6379/4222 serve other suites and are never restarted. Each
 * runs on a free loopback port with its data in the run folder: a Postgres cluster made by
 * initdb (as the postgres user when the run is root, as Postgres refuses root), Redis without
 * persistence (as production's cache: a restart loses its keys), NATS with JetStream on a store
 * directory that survives its restarts (as a real server's volume). stop() takes them all down
 * and removes their data; a crash of the simulator takes them down too (the exit hook).
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { createConnection } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { restartablePort } from "@weelo/testing";

const run = promisify(execFile);

export type ServerKind = "postgres" | "redis" | "nats";

export interface PrivateServers {
  /** DATABASE_URL, REDIS_URL and NATS_URL of the private servers. */
  env: { DATABASE_URL: string; REDIS_URL: string; NATS_URL: string };
  ports: Record<ServerKind, number>;
  /** Where their data and logs are (removed by stop()). */
  folder: string;
  /**
   * Restarts one: Postgres as `pg_ctl restart -m fast` does (its connections are ended, the
   * server is back in about a second), Redis and NATS stopped (SIGTERM), kept down for downMs,
   * and started again on the same port. Resolves when it accepts connections again.
   */
  restart(kind: ServerKind, downMs: number): Promise<void>;
  /** Stops one (Postgres: a fast stop; the others: SIGTERM); startServer brings it back. */
  stopServer(kind: ServerKind): Promise<void>;
  /** Starts one stopped by stopServer; resolves when it accepts connections. */
  startServer(kind: ServerKind): Promise<void>;
  stop(): Promise<void>;
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
  });
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs / 1000} s`);
    await sleep(100);
  }
}

/** The newest Postgres binaries installed (Debian's layout), or initdb on the PATH. */
function postgresBin(): string {
  const root = "/usr/lib/postgresql";
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .map(Number)
      .filter((n) => Number.isInteger(n) && n > 0)
      .sort((a, b) => a - b);
    if (versions.length > 0) return join(root, String(versions.at(-1)), "bin");
  }
  return "";
}

export async function startPrivateServers(): Promise<PrivateServers> {
  // A folder of its own (the run folder is private to this user; the postgres user must reach its data).
  const root = mkdtempSync(join(tmpdir(), "weelo-faults-servers-"));
  chmodSync(root, 0o755);
  const ports: Record<ServerKind, number> = {
    postgres: await restartablePort(),
    redis: await restartablePort(),
    nats: await restartablePort(),
  };
  const bin = postgresBin();
  const pgData = join(root, "postgres");
  const pgLog = join(pgData, "server.log");
  // Postgres refuses to run as root: as root, its files belong to the postgres user and its tools run as that user.
  const asRoot = process.getuid?.() === 0;
  const pgCommand = (tool: string, args: string[]): [string, string[]] =>
    asRoot ? ["runuser", ["-u", "postgres", "--", join(bin, tool), ...args]] : [join(bin, tool), args];
  const pg = (tool: string, args: string[]) => {
    const [command, full] = pgCommand(tool, args);
    return run(command, full, { timeout: 60_000 });
  };
  const pgOptions = [
    `-p ${ports.postgres}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${pgData}`,
    "-c max_connections=300",
    // A throwaway cluster: durability is not what this run measures.
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
  ].join(" ");
  const children = new Map<ServerKind, ChildProcess>();
  let stopped = false;

  const startRedis = async () => {
    const child = spawn(
      "redis-server",
      ["--port", String(ports.redis), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", root],
      { stdio: "ignore" },
    );
    children.set("redis", child);
    await waitUntil("the private Redis did not start", () => answers(ports.redis), 20_000);
  };
  const startNats = async () => {
    const child = spawn(
      "/usr/sbin/nats-server",
      ["-a", "127.0.0.1", "-p", String(ports.nats), "-js", "-sd", join(root, "nats"), "-l", join(root, "nats.log")],
      { stdio: "ignore" },
    );
    children.set("nats", child);
    await waitUntil("the private NATS did not start", () => answers(ports.nats), 20_000);
  };
  const stopChild = async (kind: ServerKind) => {
    const child = children.get(kind);
    children.delete(kind);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await gone;
    clearTimeout(timer);
  };
  const pgStop = (mode: "fast" | "immediate") => pg("pg_ctl", ["-D", pgData, "-m", mode, "-w", "stop"]);
  const pgStart = () => pg("pg_ctl", ["-D", pgData, "-o", pgOptions, "-l", pgLog, "-w", "-t", "60", "start"]);

  const stopServer = async (kind: ServerKind) => {
    if (kind === "postgres") await pgStop("fast");
    else await stopChild(kind);
  };
  const startServer = async (kind: ServerKind) => {
    await (kind === "postgres" ? pgStart() : kind === "redis" ? startRedis() : startNats());
    await waitUntil(`the private ${kind} did not answer again`, () => answers(ports[kind]), 60_000);
  };

  /** Synchronous: the exit hook of a crashing simulator can do nothing else. */
  const killAll = () => {
    for (const child of children.values()) child.kill("SIGKILL");
    try {
      const [command, args] = pgCommand("pg_ctl", ["-D", pgData, "-m", "immediate", "stop"]);
      if (existsSync(join(pgData, "postmaster.pid"))) execFileSync(command, args, { stdio: "ignore" });
    } catch {
      // already down
    }
    rmSync(root, { recursive: true, force: true });
  };
  process.once("exit", killAll);
  // Ctrl-C or a stop from outside (a death by signal emits no exit event): down at once, then the
  // other handlers (the mesh's clean stop) run, or, if there is none, the signal's own ending.
  const onSignal = (signal: NodeJS.Signals) => {
    killAll();
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all([stopChild("redis"), stopChild("nats"), pgStop("fast").catch(() => undefined)]);
    process.removeListener("exit", killAll);
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    rmSync(root, { recursive: true, force: true });
  };

  try {
    mkdirSync(pgData);
    if (asRoot) {
      const { uid, gid } = postgresUser();
      chownSync(pgData, uid, gid);
    }
    chmodSync(pgData, 0o700);
    await pg("initdb", ["-D", pgData, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"]);
    await Promise.all([pgStart(), startRedis(), startNats()]);
  } catch (error) {
    await stop();
    throw new Error(`could not start the private servers: ${(error as { stderr?: string }).stderr || error}`);
  }

  return {
    env: {
      DATABASE_URL: `postgres://postgres@127.0.0.1:${ports.postgres}/postgres`,
      REDIS_URL: `redis://127.0.0.1:${ports.redis}`,
      NATS_URL: `nats://127.0.0.1:${ports.nats}`,
    },
    ports,
    folder: root,
    // Postgres: what `pg_ctlcluster … restart` does, a fast stop (sessions ended, in-flight transactions rolled back), a start.
    async restart(kind, downMs) {
      await stopServer(kind);
      if (downMs > 0) await sleep(downMs);
      await startServer(kind);
    },
    stopServer,
    startServer,
    stop,
  };
}

/** The postgres user's ids (as /etc/passwd gives them). */
function postgresUser(): { uid: number; gid: number } {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("postgres:"));
  if (!line) throw new Error("no postgres user to run a private Postgres as (the run is root, which Postgres refuses)");
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/** True when this machine can run the private servers (the tools are installed). */
export function privateServersAvailable(): { ok: boolean; missing: string[] } {
  const bin = postgresBin();
  const missing: string[] = [];
  if (!bin || !existsSync(join(bin, "initdb"))) missing.push("initdb (PostgreSQL server)");
  if (!existsSync("/usr/sbin/nats-server")) missing.push("/usr/sbin/nats-server");
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" });
  } catch {
    missing.push("redis-server");
  }
  return { ok: missing.length === 0, missing };
}
