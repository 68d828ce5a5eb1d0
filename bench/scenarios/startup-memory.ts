/**
 * Start-up time and memory of the build, as it is run (issue 15, targets 5 and 6):
 * - the all-in-one from dist/ with `npm start`'s own node command line (read from package.json,
 *   so the figure is what `npm start` runs), on an existing data folder: spawn → ready, and RSS
 *   3 s after ready. Targets: ready < 5 s, RSS < 300 MB. Baseline, same run: a bare `node`
 *   process (spawn → first line, and its RSS).
 * - with DATABASE_URL, REDIS_URL and NATS_URL: each process of the deployed shape (sim/mesh.ts,
 *   as docker-compose wires it) stopped and started again on its existing schema: start → its
 *   /health/ready answering 200 (polled every 100 ms). Target < 2 s.
 * The first start of the all-in-one (it creates and migrates the data folder) is not measured.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { trackServerPids } from "../lib/child.js";
import { REPO_ROOT } from "../lib/paths.js";
import type { MeasureFigure, MeasureResult, MeasureScenario } from "../lib/scenario.js";
import { acquireMesh } from "./_mesh.js";

const STARTS = 3;
const RSS_AFTER_READY_MS = 3000;
const READY_LINE = /Weelo is up/;

/** `npm start`'s environment, node flags and entry (the command after the build step), from package.json. */
function npmStartCommand(): { env: Record<string, string>; nodeArgs: string[]; entry: string } {
  const scripts = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")).scripts as Record<string, string>;
  const words = scripts.start!.split("&&").at(-1)!.trim().split(/\s+/);
  const env: Record<string, string> = {};
  while (words[0]?.includes("=")) {
    const [name, ...value] = words.shift()!.split("=");
    env[name!] = value.join("=");
  }
  if (words[0] !== "node") throw new Error(`npm start does not end with a node command: ${scripts.start}`);
  return { env, nodeArgs: words.slice(1, -1), entry: words.at(-1)! };
}

interface Started {
  readyMs: number;
  rssMb: number;
}

/** Spawns node, waits for a line matching `ready`, reads the RSS `RSS_AFTER_READY_MS` later, stops it. */
async function startOnce(args: string[], env: NodeJS.ProcessEnv, ready: RegExp, timeoutMs: number): Promise<Started> {
  const began = performance.now();
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  const untrack = trackServerPids(() => (child.pid !== undefined && child.exitCode === null ? [child.pid] : []));
  try {
    const readyMs = await new Promise<number>((resolve, reject) => {
      let output = "";
      const timer = setTimeout(
        () => reject(new Error(`not ready within ${timeoutMs} ms:\n${output.slice(-2000)}`)),
        timeoutMs,
      );
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (ready.test(output)) {
          clearTimeout(timer);
          resolve(performance.now() - began);
        }
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`exited (${code}) before ready:\n${output.slice(-2000)}`));
      });
    });
    await new Promise((resolve) => setTimeout(resolve, RSS_AFTER_READY_MS));
    return { readyMs, rssMb: rssMbOf(child.pid!) };
  } finally {
    await stop(child);
    untrack();
  }
}

function rssMbOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
  return kb / 1024;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const round = (value: number) => Math.round(value * 10) / 10;

async function allInOne(): Promise<{ figures: MeasureFigure[]; checks: MeasureResult["checks"]; notes: string[] }> {
  const start = npmStartCommand();
  const { nodeArgs, entry } = start;
  const dataDir = await mkdtemp(join(tmpdir(), "weelo-bench-startup-"));
  // Embedded defaults, as `npm start` on a fresh clone: no server URLs.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: undefined,
    REDIS_URL: undefined,
    NATS_URL: undefined,
    NODE_OPTIONS: undefined,
    ...start.env,
    NODE_ENV: "development",
    LOG_LEVEL: "info",
    DATA_DIR: dataDir,
    PORT: "0",
    GRPC_PORT: "0",
    MESH_PORT: "0",
    METRICS_PORT: "0",
  };
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
  try {
    await startOnce([...nodeArgs, entry], env, READY_LINE, 180_000); // creates and migrates the data folder
    const runs: Started[] = [];
    for (let i = 0; i < STARTS; i++) runs.push(await startOnce([...nodeArgs, entry], env, READY_LINE, 60_000));
    const bare: Started[] = [];
    for (let i = 0; i < STARTS; i++)
      bare.push(await startOnce(["-e", "console.log('up'); setInterval(() => {}, 1000)"], env, /up/, 10_000));
    const readyMs = median(runs.map((r) => r.readyMs));
    const rssMb = median(runs.map((r) => r.rssMb));
    return {
      figures: [
        {
          label: "all-in-one ready on an existing data folder (median)",
          value: Math.round(readyMs),
          unit: "ms",
          baseline: { label: "bare node", value: Math.round(median(bare.map((r) => r.readyMs))) },
        },
        {
          label: `all-in-one RSS ${RSS_AFTER_READY_MS / 1000} s after ready (median)`,
          value: round(rssMb),
          unit: "MB",
          baseline: { label: "bare node", value: round(median(bare.map((r) => r.rssMb))) },
        },
      ],
      checks: [
        {
          label: "all-in-one ready < 5 s",
          pass: readyMs < 5000,
          detail: runs.map((r) => `${Math.round(r.readyMs)} ms`).join(", "),
        },
        {
          label: "all-in-one RSS < 300 MB",
          pass: rssMb < 300,
          detail: runs.map((r) => `${round(r.rssMb)} MB`).join(", "),
        },
      ],
      notes: [
        `all-in-one: ${Object.entries(start.env)
          .map(([name, value]) => `${name}=${value} `)
          .join(
            "",
          )}node ${[...nodeArgs, entry].join(" ")} (npm start's command, on ${process.version}), ${STARTS} starts after a first one that created the data folder (and, on Node >= 22, the compile cache)`,
      ],
    };
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Each process of the deployed shape, stopped and started again: start → /health/ready 200. */
async function services(): Promise<{ figures: MeasureFigure[]; checks: MeasureResult["checks"]; notes: string[] }> {
  const mesh = await acquireMesh();
  try {
    const figures: MeasureFigure[] = [];
    const slowest: string[] = [];
    let worst = 0;
    for (const process of mesh.system.processes) {
      const times: number[] = [];
      for (let i = 0; i < STARTS; i++) {
        await mesh.system.kill(process.id);
        const began = performance.now();
        await mesh.system.start(process.id);
        times.push(performance.now() - began);
      }
      const ms = median(times);
      worst = Math.max(worst, ms);
      if (ms >= 2000) slowest.push(`${process.id} ${Math.round(ms)} ms`);
      figures.push({ label: `${process.id} ready after start (median)`, value: Math.round(ms), unit: "ms" });
    }
    return {
      figures,
      checks: [
        {
          label: "each service ready < 2 s",
          pass: worst < 2000,
          detail: slowest.length > 0 ? `over: ${slowest.join(", ")}` : `slowest ${Math.round(worst)} ms`,
        },
      ],
      notes: [
        `services: each process of the deployed shape (dist/, plain node) stopped and started ${STARTS} times on its existing schema; ready = /health/ready answering 200, polled every 100 ms`,
      ],
    };
  } finally {
    await mesh.release();
  }
}

export default {
  name: "startup-memory",
  description: "the build's start-up: all-in-one ready time and RSS (npm start's command), each service's ready time",
  async measure(): Promise<MeasureResult> {
    const single = await allInOne();
    const hasServers = ["DATABASE_URL", "REDIS_URL", "NATS_URL"].every((name) => process.env[name]);
    const mesh = hasServers
      ? await services()
      : {
          figures: [],
          checks: [],
          notes: ["services: skipped (set DATABASE_URL, REDIS_URL and NATS_URL to start the deployed shape)"],
        };
    return {
      figures: [...single.figures, ...mesh.figures],
      checks: [...single.checks, ...mesh.checks],
      notes: [...single.notes, ...mesh.notes],
    };
  },
} satisfies MeasureScenario;
