/**
 * Servers under test run in CHILD processes: the load generator and the server
 * must never share an event loop (or one core's worth of JS) with each other.
 *
 * A child is started as `node --import tsx <script>` (never through npx or the
 * tsx CLI wrapper), so `child.pid` IS the server: `stop()` signals that pid.
 * The server listens on 127.0.0.1 port 0 and reports its port:
 *   - by printing a line matching `readyPattern` (default `READY port=<n>`, see
 *     lib/ready.ts `announceReady`), group 1 being the port; or
 *   - for a server on a fixed port, by `port` + `healthPath`, polled until 2xx.
 * Its stdout/stderr are drained for its whole life (a full pipe would block it)
 * and the last lines are kept for error messages.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { createInterface } from "node:readline";
import { REPO_ROOT, tsxImportArgs } from "./paths.js";
import { READY_PATTERN } from "./ready.js";

export interface ChildServerOptions {
  /** Shown in messages. */
  name: string;
  /** Server entry file (.ts or .js): absolute, or relative to the repository root. */
  script: string;
  args?: string[];
  /** Added to (and overriding) the parent's environment. `undefined` removes a variable. */
  env?: Record<string, string | undefined>;
  /** Extra node flags, e.g. ["--max-old-space-size=512"]. */
  nodeArgs?: string[];
  /** Matched against each stdout/stderr line; capture group 1 is the port. Default: `READY port=<n>`. */
  readyPattern?: RegExp;
  /** Fixed port: readiness is then `healthPath` answering 2xx (polled) instead of a line. */
  port?: number;
  /** With `port`: the path polled with GET until 2xx. Default "/". */
  healthPath?: string;
  /** How long to wait for readiness. Default 30 s. */
  readyTimeoutMs?: number;
  /** Forward the child's output to the parent's stderr (also on with BENCH_VERBOSE=1). */
  verbose?: boolean;
}

export interface ChildServer {
  name: string;
  pid: number;
  port: number;
  /** `http://127.0.0.1:<port>` */
  baseUrl: string;
  /** SIGTERM the pid, SIGKILL after 5 s. Idempotent. */
  stop(): Promise<void>;
  /** The last lines the child printed (stdout and stderr interleaved). */
  recentOutput(): string;
  /** Whether the process has exited (e.g. crashed under load). */
  exited(): boolean;
}

const live = new Set<ChildProcess>();
let hooksInstalled = false;

/** Servers started by other means than startChild (the mesh's processes, sim/mesh.ts): their live pids. */
const elsewhere = new Set<() => number[]>();

/**
 * Counts the processes `pids()` names as bench servers (their CPU is "server CPU") until the
 * returned function is called. For servers this module did not start (scenarios/_mesh.ts).
 */
export function trackServerPids(pids: () => number[]): () => void {
  elsewhere.add(pids);
  return () => elsewhere.delete(pids);
}

/** Pids of all bench server children still running (their CPU is "server CPU" in the results). */
export function liveChildPids(): number[] {
  return [
    ...[...live].flatMap((c) => (c.pid !== undefined && c.exitCode === null && c.signalCode === null ? [c.pid] : [])),
    ...[...elsewhere].flatMap((pids) => pids()),
  ];
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // Last resort: never leave a server behind, whatever way the parent ends.
  process.on("exit", () => {
    for (const child of live) if (child.pid !== undefined) safeKill(child.pid, "SIGKILL");
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      for (const child of live) if (child.pid !== undefined) safeKill(child.pid, "SIGKILL");
      process.exit(130);
    });
  }
}

function safeKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Node flags for every server the bench starts (its children and the mesh's processes), from
 * the profiling settings: BENCH_CPU_PROF=<dir> writes each one's V8 CPU profile there when it
 * stops; BENCH_HEAP_SURVIVORS=<dir> each one's sample of the allocations that outlive a
 * scavenge (heap-survivors.cjs). Flags, not NODE_OPTIONS: Node refuses --cpu-prof there.
 */
export function profilingArgs(): string[] {
  const args: string[] = [];
  if (process.env.BENCH_CPU_PROF) args.push("--cpu-prof", `--cpu-prof-dir=${resolve(process.env.BENCH_CPU_PROF)}`);
  if (process.env.BENCH_HEAP_SURVIVORS) {
    mkdirSync(resolve(process.env.BENCH_HEAP_SURVIVORS), { recursive: true });
    args.push("--require", resolve(REPO_ROOT, "bench/lib/heap-survivors.cjs"));
  }
  return args;
}

export async function startChild(options: ChildServerOptions): Promise<ChildServer> {
  installHooks();
  const script = isAbsolute(options.script) ? options.script : resolve(REPO_ROOT, options.script);
  const verbose = options.verbose ?? process.env.BENCH_VERBOSE === "1";
  const pattern = options.readyPattern ?? READY_PATTERN;
  const timeoutMs = options.readyTimeoutMs ?? 30_000;

  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }

  const child = spawn(
    process.execPath,
    [...profilingArgs(), ...(options.nodeArgs ?? []), ...tsxImportArgs(), script, ...(options.args ?? [])],
    {
      cwd: REPO_ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  if (child.pid === undefined) {
    // spawn failures surface as an 'error' event; wait for it to report the cause
    const err = await new Promise<Error>((r) => child.once("error", r));
    throw new Error(`bench: could not start ${options.name}: ${err.message}`);
  }
  const pid = child.pid;
  live.add(child);

  const tail: string[] = [];
  const recentOutput = () => tail.join("\n");
  let onLine: ((line: string) => void) | undefined;
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => {
      tail.push(line);
      if (tail.length > 60) tail.shift();
      if (verbose) process.stderr.write(`[${options.name}] ${line}\n`);
      onLine?.(line);
    });
  }

  let exitedFlag = false;
  let stopping = false;
  let ready = false;
  const exitedPromise = new Promise<void>((r) =>
    child.once("exit", (code, signal) => {
      exitedFlag = true;
      live.delete(child);
      if (ready && !stopping) {
        // A server dying under load must not go unnoticed (its figure will show errors too).
        process.stderr.write(
          `\n!! bench: server ${options.name} (pid ${pid}) exited unexpectedly (code ${code}, signal ${signal})\n` +
            tail
              .slice(-15)
              .map((l) => `!!   ${l}\n`)
              .join(""),
        );
      }
      r();
    }),
  );

  const stop = async () => {
    stopping = true;
    if (exitedFlag) return;
    safeKill(pid, "SIGTERM");
    const timer = setTimeout(() => safeKill(pid, "SIGKILL"), 5_000);
    await exitedPromise;
    clearTimeout(timer);
  };

  try {
    const port = await new Promise<number>((resolvePort, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`bench: ${options.name} not ready after ${timeoutMs} ms`)),
        timeoutMs,
      );
      const done = (fn: () => void) => {
        clearTimeout(timer);
        onLine = undefined;
        fn();
      };
      void exitedPromise.then(() =>
        done(() =>
          reject(
            new Error(
              `bench: ${options.name} exited (code ${child.exitCode}, signal ${child.signalCode}) before it was ready`,
            ),
          ),
        ),
      );
      if (options.port !== undefined) {
        const fixedPort = options.port;
        const url = `http://127.0.0.1:${fixedPort}${options.healthPath ?? "/"}`;
        const poll = async () => {
          while (!exitedFlag) {
            try {
              const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
              await res.arrayBuffer();
              if (res.ok) return done(() => resolvePort(fixedPort));
            } catch {
              // not up yet
            }
            await new Promise((r) => setTimeout(r, 100));
          }
        };
        void poll();
      } else {
        onLine = (line) => {
          const match = pattern.exec(line);
          const port = match?.[1] === undefined ? NaN : Number(match[1]);
          if (Number.isInteger(port) && port > 0) done(() => resolvePort(port));
        };
      }
    });
    ready = true;
    return {
      name: options.name,
      pid,
      port,
      baseUrl: `http://127.0.0.1:${port}`,
      stop,
      recentOutput,
      exited: () => exitedFlag,
    };
  } catch (err) {
    await stop();
    const output = recentOutput();
    throw new Error(`${(err as Error).message}${output ? `\n--- last output of ${options.name} ---\n${output}` : ""}`);
  }
}
