/**
 * `npm run simulate`: the city simulator. Runs against a system already started (`npm
 * start`, the default URL, or any --url), or starts the all-in-one itself (--start). Prints
 * progress while it runs, then the report as a table and as JSON (--report), and exits
 * non-zero when an invariant fails (1), no system answers at the URL without --start (1, with
 * one line saying how to start one), or the run could not be made (2).
 *
 *   npm run simulate -- --start --profile short        # CI's system test, under two minutes
 *   npm run simulate -- --start --faults               # restarts the system, NATS and Redis on the way
 *   npm run simulate -- --mesh --faults --short        # each service its own process; SIGKILLs each in turn
 *   npm run simulate -- --url http://127.0.0.1:3000 --seed 42 --rate 60 --duration 300
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { injectFaults, type FaultKind } from "./faults.js";
import { PROFILES, type SimConfig } from "./profiles.js";
import { renderReport, runSimulation } from "./simulation.js";
import { startSystemChild, type SystemChild } from "./system.js";
import { startMesh, type MeshSystem } from "./mesh.js";
import { injectMeshFaults, MESH_FAULT_TARGETS, meshFaultWindowMs, PROXIED_LINK } from "./mesh-faults.js";
import { type PrivateServers, startPrivateServers } from "./private-servers.js";
import { runSlowConsumers } from "./apps/slow-consumer.js";

const USAGE = `usage: npm run simulate -- [options]
  --profile short|full     shape of the run (default full; short is CI's, under two minutes)
  --short                  same as --profile short
  --seed N                 seed of every random choice (default 8)
  --url URL                gateway to simulate against (default http://127.0.0.1:$PORT or :3000)
  --start                  start the all-in-one system as a child process in a temp data dir
                           (uses DATABASE_URL / REDIS_URL / NATS_URL when set, in its own schema and streams)
  --mesh                   start the deployed shape instead: the gateway and each service its own process
                           from the build (dispatch twice), wired as docker-compose.yml wires them, on
                           DATABASE_URL / REDIS_URL / NATS_URL (required) in a schema and streams of its own
  --faults                 with --mesh: on private Postgres, Redis and NATS servers of its own (free ports,
                           removed at the end), both dispatch replicas down past a wave; restarts of Postgres,
                           NATS (booking killed meanwhile) and Redis; SIGKILL each service in turn (and the
                           gateway), restarted at once; then 2 s latency and a 10 s partition dispatch→booking
                           (a TCP fault proxy); meanwhile a driver and a watcher stop reading their streams;
                           with figures per fault; otherwise: restart the system (with --start), NATS and Redis (when NATS_URL / REDIS_URL
                           are set and local) during the booking window
  --fault-list a,b         which faults: service, nats, redis
  --fault-down-ms MS       how long each stays down (default 3000)
  --duration S             booking window in seconds
  --drain S                longest wait for trips to finish after the window, in seconds
  --rate N                 orders per minute
  --transporters N         transporters (each with 2-5 trucks as the profile says)
  --customers N            customers
  --wave-ms MS             with --start: the dispatch wave length (WAVE_DURATION_MS)
  --broadcast-ms MS        how long a booking may stay in broadcast (default: 4 waves + gather)
  --report PATH            JSON report (default sim/results/<profile>-last.json)
  --help`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      profile: { type: "string" },
      short: { type: "boolean" },
      seed: { type: "string" },
      url: { type: "string" },
      start: { type: "boolean" },
      mesh: { type: "boolean" },
      faults: { type: "boolean" },
      "fault-list": { type: "string" },
      "fault-down-ms": { type: "string" },
      duration: { type: "string" },
      drain: { type: "string" },
      rate: { type: "string" },
      transporters: { type: "string" },
      customers: { type: "string" },
      "wave-ms": { type: "string" },
      "broadcast-ms": { type: "string" },
      report: { type: "string" },
      help: { type: "boolean" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const profile = values.short ? "short" : (values.profile ?? "full");
  if (profile !== "short" && profile !== "full")
    throw new UsageError(`--profile must be short or full, not ${profile}`);
  const number = (name: string, raw: string | undefined, min: number, max: number): number | undefined => {
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min || value > max)
      throw new UsageError(`--${name} must be a number from ${min} to ${max}, not ${raw}`);
    return value;
  };
  const config: SimConfig = { ...PROFILES[profile] };
  const set = <K extends keyof SimConfig>(key: K, value: SimConfig[K] | undefined) => {
    if (value !== undefined) config[key] = value;
  };
  set("seed", number("seed", values.seed, 0, 2 ** 32 - 1));
  set("bookingWindowMs", mul(number("duration", values.duration, 1, 24 * 3600), 1000));
  set("drainMs", mul(number("drain", values.drain, 0, 3600), 1000));
  set("ordersPerMinute", number("rate", values.rate, 0.1, 6000));
  set("transporters", number("transporters", values.transporters, 1, 1000));
  set("customers", number("customers", values.customers, 1, 10_000));
  const starts = (values.start ?? false) || (values.mesh ?? false);
  const meshFaults = (values.mesh ?? false) && (values.faults ?? false);
  // Every service is killed once, a fault window apart, within the booking window.
  if (meshFaults && values.duration === undefined)
    config.bookingWindowMs = Math.max(config.bookingWindowMs, meshFaultWindowMs(profile));
  const waveMs =
    number("wave-ms", values["wave-ms"], 50, 3_600_000) ?? (starts ? (profile === "short" ? 4000 : 15_000) : undefined);
  const gatherMs = 2000;
  const broadcastMs =
    number("broadcast-ms", values["broadcast-ms"], 0, 24 * 3600_000) ?? gatherMs + 4 * (waveMs ?? 30_000) + 2000;

  const faultKinds = meshFaults ? [] : faultList(values.faults ?? false, values["fault-list"], values.start ?? false);
  // Through a restart the apps keep retrying as long as a restart can take on a busy machine.
  if (faultKinds.length > 0 || meshFaults) config.retryForMs = Math.max(config.retryForMs, 150_000);
  const progress = (line: string) => process.stderr.write(`${line}\n`);

  let child: SystemChild | undefined;
  let mesh: MeshSystem | undefined;
  let servers: PrivateServers | undefined;
  let url = values.url ?? `http://127.0.0.1:${process.env.PORT ?? 3000}`;
  const timing: Record<string, string> =
    waveMs !== undefined ? { WAVE_DURATION_MS: String(waveMs), ORDER_GATHER_MS: String(gatherMs) } : {};
  if (values.mesh) {
    if (values.start || values.url) throw new UsageError("--mesh starts its own system: no --start or --url with it");
    if (meshFaults) {
      // The fault run restarts Postgres, Redis and NATS: never the shared ones, which other suites use.
      progress("starting private Postgres, Redis and NATS servers for the fault run…");
      servers = await startPrivateServers();
      progress(
        `private servers: Postgres :${servers.ports.postgres}, Redis :${servers.ports.redis}, NATS :${servers.ports.nats}`,
      );
    }
    progress("starting the mesh: the gateway and each service its own process, as docker-compose.yml wires them…");
    try {
      mesh = await startMesh({
        overrides: timing,
        progress,
        ...(meshFaults ? { proxied: [PROXIED_LINK] } : {}),
        ...(servers ? { servers: servers.env } : {}),
      });
    } catch (error) {
      await servers?.stop();
      throw error;
    }
    url = mesh.url;
  } else if (values.start) {
    progress("starting the all-in-one system (node --import tsx system/src/all-in-one.ts)…");
    const began = Date.now();
    child = await startSystemChild(timing);
    url = child.url;
    progress(`system ready at ${url} in ${((Date.now() - began) / 1000).toFixed(1)} s (log: ${child.logPath})`);
  } else if (!(await answers(url))) {
    console.error(
      `no Weelo system answers at ${url}: start one (npm start), or let the simulator start it: npm run simulate -- --start`,
    );
    return 1;
  }
  try {
    const report = await runSimulation({
      url,
      profile,
      config,
      broadcastMs,
      progress,
      ...(meshFaults && mesh
        ? {
            onRunning: (world, runStart) => {
              progress(
                `fault mode: both dispatch replicas down past a wave; Postgres, NATS (booking killed meanwhile) and Redis restarted; SIGKILL of ${MESH_FAULT_TARGETS.join(", ")} in turn, each restarted at once; then latency and a partition ${PROXIED_LINK.caller}→${PROXIED_LINK.upstream}; a driver and a watcher that stop reading`,
              );
              const admin = (service: string) => mesh!.processes.find((p) => p.service === service)!.adminUrl;
              // Alongside the faults: a driver and a watcher that stop reading their streams.
              const slow = runSlowConsumers(world, {
                url: mesh.url,
                trackingAdmin: admin("tracking"),
                gatewayAdmin: admin("gateway"),
                forMs: profile === "short" ? 60_000 : 180_000,
              });
              const faults = injectMeshFaults(world, runStart, {
                mesh,
                profile,
                waveMs: waveMs ?? 4000,
                ...(servers ? { servers } : {}),
              });
              return Promise.all([faults, slow]).then(([records]) => records);
            },
          }
        : {}),
      ...(faultKinds.length > 0
        ? {
            onRunning: (world, runStart) => {
              progress(`fault mode: ${faultKinds.join(", ")} will be restarted during the booking window`);
              return injectFaults(world, runStart, {
                kinds: faultKinds,
                downMs: number("fault-down-ms", values["fault-down-ms"], 0, 60_000) ?? 3000,
                url,
                child,
              });
            },
          }
        : {}),
    });
    const path = resolve(values.report ?? new URL(`./results/${profile}-last.json`, import.meta.url).pathname);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`\n${renderReport(report)}\n\nJSON report: ${path}`);
    return report.invariants.passed ? 0 : 1;
  } finally {
    await child?.stop();
    await mesh?.stop();
    if (mesh) progress(`mesh stopped; its logs: ${mesh.folder}/logs`);
    await servers?.stop();
  }
}

/** True when a gateway answers /health at the URL (anything at all: the run itself says what is wrong with it). */
async function answers(url: string): Promise<boolean> {
  try {
    await fetch(`${url}/health`, { signal: AbortSignal.timeout(5000) });
    return true;
  } catch {
    return false;
  }
}

const mul = (v: number | undefined, k: number) => (v === undefined ? undefined : Math.round(v * k));

/** Which faults to inject: the list given, or every one that applies to this run. */
function faultList(all: boolean, list: string | undefined, started: boolean): FaultKind[] {
  if (list !== undefined) {
    const kinds = list
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    for (const kind of kinds)
      if (!["service", "nats", "redis"].includes(kind))
        throw new UsageError(`--fault-list takes service, nats and redis, not ${kind}`);
    return kinds as FaultKind[];
  }
  if (!all) return [];
  const local = (name: string) => {
    const value = process.env[name];
    if (!value) return false;
    const host = new URL(value).hostname;
    return host === "127.0.0.1" || host === "localhost" || host === "::1";
  };
  const kinds: FaultKind[] = [];
  if (started) kinds.push("service");
  if (local("NATS_URL")) kinds.push("nats");
  if (local("REDIS_URL")) kinds.push("redis");
  return kinds;
}

class UsageError extends Error {}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      console.error(`${error.message}\n\n${USAGE}`);
    } else {
      console.error(`simulation failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
    process.exit(2);
  },
);
