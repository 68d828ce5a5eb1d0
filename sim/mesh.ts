/**
 * The system under simulation in the deployed shape (`--mesh`): the gateway and every service
 * as its own process from the build (dist/), wired as docker-compose.yml wires them (each
 * process's settings and upstreams are read from that file: one source of truth), upstreams over
 * the mutual-TLS mesh port, on the real Postgres, Redis and NATS of DATABASE_URL/REDIS_URL/NATS_URL
 * in a schema prefix, key prefix and streams of the run's own. The migrate one-shot runs first
 * (services then start with MIGRATE_ON_START=false, as in production); dispatch runs as two
 * replicas behind one round-robin target. Every process binds loopback on free ports, logs to
 * <run folder>/logs/<process>.log, and shares one DATA_DIR (the development mesh CA and token keys).
 *
 * Differences from compose, on purpose: no PgBouncer and no per-service roles (the processes
 * connect as DATABASE_URL's user; roles and their grants are the deploy checks' and the
 * PgBouncer suite's business), and the harness restarts a process that dies (the orchestrator's job).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createWriteStream, readFileSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { parse } from "yaml";
import { type FaultProxy, startFaultProxy } from "./fault-proxy.js";
import { restartablePort } from "@weelo/testing";
import { cleanUp, isolation } from "./system.js";

const ROOT = new URL("..", import.meta.url).pathname;
const run = promisify(execFile);

/** Compose settings the harness sets itself (ports, servers, data) rather than copying. */
const HARNESS_SETTINGS = new Set([
  "DATABASE_URL",
  "REDIS_URL",
  "NATS_URL",
  "DATA_DIR",
  "PORT",
  "GRPC_PORT",
  "MESH_PORT",
  "METRICS_PORT",
  "LOG_LEVEL",
  "OTEL_EXPORTER_OTLP_ENDPOINT",
]);

/** One process of the compose file: what it runs and its settings as written there. */
export interface ComposeProcess {
  name: string;
  main: string;
  environment: Record<string, string>;
}

/** The long-running Weelo processes of docker-compose.yml (node dist/… commands, one-shots left out). */
export function composeProcesses(file = join(ROOT, "docker-compose.yml")): ComposeProcess[] {
  const compose = parse(readFileSync(file, "utf8"), { merge: true }) as {
    services: Record<string, { command?: string[]; environment?: Record<string, unknown>; restart?: string }>;
  };
  const found: ComposeProcess[] = [];
  for (const [name, service] of Object.entries(compose.services)) {
    const command = service.command ?? [];
    if (command[0] !== "node" || !command[1]?.startsWith("dist/") || service.restart === "no") continue;
    const environment = Object.fromEntries(
      Object.entries(service.environment ?? {}).map(([key, value]) => [key, String(value)]),
    );
    found.push({ name, main: command[1], environment });
  }
  return found;
}

/** One running (or restarting) process of the mesh. */
export interface MeshProcess {
  /** "booking", or "dispatch-2" for a second replica. */
  id: string;
  /** The compose service it is a replica of. */
  service: string;
  adminUrl: string;
  logPath: string;
  child: ChildProcess | undefined;
  alive: boolean;
  /** Set while the harness itself stops the process (a kill of the schedule, the run's end). */
  stopping?: boolean;
}

/** A process that exited when nobody stopped it; the harness started it again, as an orchestrator would. */
export interface MeshCrash {
  id: string;
  at: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface MeshSystem {
  url: string;
  folder: string;
  /** The database the processes use, and the run's schema prefix on it. */
  databaseUrl: string;
  schemaPrefix: string;
  processes: MeshProcess[];
  /** SIGKILLs the process and starts it again at once; resolves when its /health/ready answers 200. */
  killAndRestart(id: string): Promise<{ readyAfterMs: number }>;
  /** SIGKILLs the process and leaves it down (until start). */
  kill(id: string): Promise<void>;
  /** Starts a process the schedule killed; resolves when its /health/ready answers 200. */
  start(id: string): Promise<void>;
  /** Processes that exited unasked (each restarted after a second). */
  crashes: MeshCrash[];
  /** The fault proxies on the links asked for, by "caller→upstream" (e.g. "dispatch→booking"). */
  proxies: Map<string, FaultProxy>;
  stop(): Promise<void>;
}

export interface MeshOptions {
  /** Settings every process gets on top of compose's (the run's dispatch timing). */
  overrides: Record<string, string>;
  /** Replicas per service (default 1; dispatch 2). */
  replicas?: Record<string, number>;
  /** Links that go through a TCP fault proxy (all the caller's replicas share it; the upstream's single replica). */
  proxied?: { caller: string; upstream: string }[];
  /** DATABASE_URL, REDIS_URL and NATS_URL to run on instead of the environment's (the fault run's private servers). */
  servers?: { DATABASE_URL: string; REDIS_URL: string; NATS_URL: string };
  /** Node flags for every process (the bench's --cpu-prof, which NODE_OPTIONS does not take). */
  nodeArgs?: string[];
  progress: (line: string) => void;
}

/** The failure of a process's wait, naming the process. */
function named(proc: { id: string }, waiting: Promise<void>): Promise<void> {
  return waiting.catch((error: Error) => {
    throw new Error(`${proc.id}: ${error.message}`);
  });
}

/** Polls a process's /health/ready until it answers 200. */
async function ready(url: string, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!alive()) throw new Error(`the process behind ${url} exited while starting`);
    try {
      const response = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(2000) });
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url}/health/ready did not answer 200 within ${timeoutMs / 1000} s`);
    await sleep(100);
  }
}

export async function startMesh(options: MeshOptions): Promise<MeshSystem> {
  const base: Record<string, string | undefined> = { ...process.env, ...options.servers };
  const missing = ["DATABASE_URL", "REDIS_URL", "NATS_URL"].filter((name) => !base[name]);
  if (missing.length > 0)
    throw new Error(`--mesh runs on real servers: set ${missing.join(", ")} (see the README's test command)`);
  const replicas = { dispatch: 2, ...options.replicas };
  options.progress("building (node scripts/build.mjs --if-stale)…");
  await run(process.execPath, ["scripts/build.mjs", "--if-stale"], { cwd: ROOT });

  const folder = await mkdtemp(join(tmpdir(), "weelo-mesh-"));
  const dataDir = join(folder, "data");
  const logDir = join(folder, "logs");
  await Promise.all([mkdir(dataDir, { recursive: true }), mkdir(logDir)]);
  const suffix = Math.random().toString(16).slice(2, 10);
  const shared: Record<string, string> = {
    PATH: base.PATH ?? "/usr/bin:/bin",
    NODE_ENV: "development",
    LOG_LEVEL: base.SIM_LOG_LEVEL ?? "warn",
    DATA_DIR: dataDir,
    // As the image sets it (Node 22+; ignored on 20): a restarted process starts from the code compiled before.
    NODE_COMPILE_CACHE: join(ROOT, "node_modules", ".cache", "node-compile-cache"),
    REDIS_URL: base.REDIS_URL!,
    NATS_URL: base.NATS_URL!,
    // One machine logs every simulated user in: the per-IP OTP limit is for the open internet.
    OTP_PER_IP_PER_HOUR: "100000",
    ...isolation(base, suffix),
  };
  const cleanEnv = { ...shared, DATABASE_URL: base.DATABASE_URL! };

  // Ports first: each upstream setting names the mesh ports of its service's replicas.
  const plan = composeProcesses();
  const ports = new Map<string, { grpc: number; mesh: number; admin: number; http?: number }>();
  const ids: { id: string; service: ComposeProcess }[] = [];
  for (const service of plan) {
    for (let i = 1; i <= (replicas[service.name as keyof typeof replicas] ?? 1); i++) {
      const id = i === 1 ? service.name : `${service.name}-${i}`;
      ids.push({ id, service });
      // Below the ephemeral range: a killed process starts again on the same ports, which an
      // outgoing connection could otherwise have taken as its source port meanwhile (EADDRINUSE).
      ports.set(id, {
        grpc: await restartablePort(),
        mesh: await restartablePort(),
        admin: await restartablePort(),
        ...(service.environment.PORT ? { http: await restartablePort() } : {}),
      });
    }
  }
  const meshTarget = (service: string): string => {
    const addresses = ids.filter((p) => p.service.name === service).map((p) => `127.0.0.1:${ports.get(p.id)!.mesh}`);
    if (addresses.length === 0) throw new Error(`docker-compose.yml names an upstream ${service} it does not run`);
    return addresses.length === 1 ? addresses[0]! : `ipv4:${addresses.join(",")}`;
  };
  const proxies = new Map<string, FaultProxy>();
  for (const { caller, upstream } of options.proxied ?? []) {
    const target = meshTarget(upstream);
    if (target.startsWith("ipv4:")) throw new Error(`a fault proxy fronts one replica; ${upstream} has several`);
    const port = Number(target.split(":")[1]);
    proxies.set(`${caller}→${upstream}`, await startFaultProxy(() => port));
  }
  const envOf = (id: string, service: ComposeProcess): Record<string, string> => {
    const own = ports.get(id)!;
    const env: Record<string, string> = { ...shared };
    for (const [key, value] of Object.entries(service.environment)) {
      if (HARNESS_SETTINGS.has(key)) continue;
      const upstream = /^([a-z-]+):\d+$/.exec(value)?.[1];
      const proxy = upstream && proxies.get(`${service.name}→${upstream}`);
      if (!key.endsWith("_GRPC_URL") || !upstream) env[key] = value;
      else env[key] = proxy ? `127.0.0.1:${proxy.port}` : meshTarget(upstream);
    }
    // A database only where compose gives one (the gateway has none), as DATABASE_URL's user.
    if (service.environment.DATABASE_URL) env.DATABASE_URL = base.DATABASE_URL!;
    Object.assign(env, {
      MIGRATE_ON_START: "false",
      HOST: "127.0.0.1",
      GRPC_HOST: "127.0.0.1",
      MESH_HOST: "127.0.0.1",
      METRICS_HOST: "127.0.0.1",
      GRPC_PORT: String(own.grpc),
      MESH_PORT: String(own.mesh),
      METRICS_PORT: String(own.admin),
      ...(own.http ? { PORT: String(own.http) } : {}),
      ...options.overrides,
    });
    return env;
  };

  options.progress("migrating (node dist/system/migrate.js)…");
  try {
    await run(process.execPath, ["dist/system/migrate.js"], {
      cwd: ROOT,
      env: { ...cleanEnv, DB_SCHEMA_PREFIX: shared.DB_SCHEMA_PREFIX ?? "" },
    });
  } catch (error) {
    await Promise.all([...proxies.values()].map((proxy) => proxy.close()));
    await cleanUp(cleanEnv).catch(() => undefined);
    throw new Error(`the migrate one-shot failed: ${(error as { stderr?: string }).stderr ?? error}`);
  }

  const processes: MeshProcess[] = [];
  const envs = new Map<string, Record<string, string>>();
  const mains = new Map<string, string>();
  for (const { id, service } of ids) {
    const logPath = join(logDir, `${id}.log`);
    envs.set(id, envOf(id, service));
    mains.set(id, service.main);
    processes.push({
      id,
      service: service.name,
      adminUrl: `http://127.0.0.1:${ports.get(id)!.admin}`,
      logPath,
      child: undefined,
      alive: false,
    });
  }
  // What a run left behind if the simulator was killed outright: its processes and its names on the servers.
  writeFileSync(join(folder, "isolation.json"), `${JSON.stringify(isolation(base, suffix), null, 2)}\n`);
  const pidFile = join(folder, "pids");
  const writePids = () =>
    writeFileSync(pidFile, `${processes.map((p) => `${p.child?.pid ?? ""} ${p.id}`).join("\n")}\n`);
  const spawnProcess = (proc: MeshProcess) => {
    const log = createWriteStream(proc.logPath, { flags: "a" });
    // Same process group as the simulator: a signal to the group (Ctrl-C, CI's timeout) reaches them all.
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), mains.get(proc.id)!], {
      cwd: ROOT,
      env: envs.get(proc.id),
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    child.once("close", () => log.end());
    proc.child = child;
    proc.alive = true;
    proc.stopping = false;
    child.once("exit", (code, signal) => {
      if (proc.child !== child) return;
      proc.alive = false;
      if (proc.stopping || stopping) return;
      // Nobody asked: recorded, and started again after a second (an orchestrator's restart).
      crashes.push({ id: proc.id, at: Date.now(), code, signal });
      options.progress(`${proc.id} exited unasked (${signal ?? `code ${code}`}); starting it again`);
      setTimeout(() => {
        if (!stopping && !proc.alive && proc.child === child) spawnProcess(proc);
      }, 1000).unref();
    });
    writePids();
  };
  const crashes: MeshCrash[] = [];
  const stopProcess = async (proc: MeshProcess, signal: NodeJS.Signals, boundMs: number) => {
    const child = proc.child;
    if (!child || !proc.alive) return;
    proc.stopping = true;
    const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), boundMs);
    await gone;
    clearTimeout(timer);
  };
  // A crash of the simulator still takes its processes down (the exit event allows only sync work).
  const killAll = () => {
    for (const proc of processes) if (proc.alive) proc.child?.kill("SIGKILL");
  };
  process.once("exit", killAll);
  // Ctrl-C or a stop from outside: the same clean stop (SIGTERM, then SIGKILL after 15 s, the run's
  // schemas and streams dropped), then the signal's own ending.
  const onSignal = (signal: NodeJS.Signals) => {
    void stop().finally(() => process.kill(process.pid, signal));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  let stopping: Promise<void> | undefined;
  // Once, whoever asks first (the run's end, a signal): later callers wait for the same stop.
  const stop = (): Promise<void> => {
    stopping ??= stopAll();
    return stopping;
  };
  const stopAll = async () => {
    // The gateway first (no new calls), then the services; SIGTERM, SIGKILL after 15 s (compose's grace).
    const gateway = processes.filter((p) => p.service === "gateway");
    await Promise.all(gateway.map((p) => stopProcess(p, "SIGTERM", 15_000)));
    await Promise.all(processes.filter((p) => p.service !== "gateway").map((p) => stopProcess(p, "SIGTERM", 15_000)));
    process.removeListener("exit", killAll);
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    await Promise.all([...proxies.values()].map((proxy) => proxy.close()));
    await cleanUp(cleanEnv).catch(() => undefined);
    if (!base.SIM_KEEP_DATA) await rm(dataDir, { recursive: true, force: true });
  };

  try {
    const began = Date.now();
    const services = processes.filter((p) => p.service !== "gateway");
    for (const proc of services) spawnProcess(proc);
    // Generous: seven processes starting at once on a loaded 2-core machine took over two minutes.
    await Promise.all(
      services.map((p) =>
        named(
          p,
          ready(p.adminUrl, 300_000, () => p.alive),
        ),
      ),
    );
    const gateway = processes.filter((p) => p.service === "gateway");
    for (const proc of gateway) spawnProcess(proc);
    await Promise.all(
      gateway.map((p) =>
        named(
          p,
          ready(p.adminUrl, 120_000, () => p.alive),
        ),
      ),
    );
    options.progress(
      `mesh ready in ${((Date.now() - began) / 1000).toFixed(1)} s: ${processes.map((p) => p.id).join(", ")} (logs: ${logDir})`,
    );
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}; logs: ${logDir}`);
  }

  const find = (id: string): MeshProcess => {
    const proc = processes.find((p) => p.id === id);
    if (!proc) throw new Error(`no process ${id} in the mesh`);
    return proc;
  };
  const gatewayPorts = ports.get("gateway");
  if (!gatewayPorts?.http) throw new Error("docker-compose.yml has no gateway with a PORT");
  return {
    url: `http://127.0.0.1:${gatewayPorts.http}`,
    folder,
    databaseUrl: base.DATABASE_URL!,
    schemaPrefix: shared.DB_SCHEMA_PREFIX ?? "",
    processes,
    proxies,
    crashes,
    async killAndRestart(id) {
      const proc = find(id);
      const at = Date.now();
      await stopProcess(proc, "SIGKILL", 5000);
      spawnProcess(proc);
      await ready(proc.adminUrl, 90_000, () => proc.alive);
      return { readyAfterMs: Date.now() - at };
    },
    async kill(id) {
      await stopProcess(find(id), "SIGKILL", 5000);
    },
    async start(id) {
      const proc = find(id);
      if (!proc.alive) spawnProcess(proc);
      await ready(proc.adminUrl, 90_000, () => proc.alive);
    },
    stop,
  };
}
