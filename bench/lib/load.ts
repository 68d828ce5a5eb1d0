/**
 * The load generator: autocannon, fixed duration, fixed connections.
 *
 * Each measurement = one warm-up run (discarded, except that its errors are
 * reported) + one measured run against the same URL with the same settings.
 *
 * Where autocannon runs: by default in its OWN child process
 * (lib/load-worker.ts), not in the bench parent. The parent then only
 * orchestrates: whatever a scenario module does in the parent (clients, timers,
 * even an in-process server, which it should not do) never shares an event
 * loop with the load generator, and the load generator's CPU is measured on
 * its own. BENCH_LOADGEN=inprocess runs autocannon in the parent instead (for
 * comparison). autocannon's `workers` (worker threads) is not used: on a
 * 2-core machine with the server on the other core it buys nothing.
 *
 * Defaults (env overrides):
 *   BENCH_DURATION_S   total seconds per measurement, warm-up included (10)
 *   BENCH_WARMUP_S     warm-up seconds within that (2; 1 if the total is < 5)
 *   BENCH_CONNECTIONS  concurrent connections (50)
 *   BENCH_PIPELINING   requests in flight per connection (1)
 * autocannon stops on whole-second ticks, so durations are whole seconds.
 */
import { fork } from "node:child_process";
import { createHistogram } from "node:perf_hooks";
import autocannon from "autocannon";
import { liveChildPids } from "./child.js";
import { JIFFIES_PER_SECOND, machineJiffies, treeCpuSeconds } from "./cpu.js";
import { benchPath, tsxImportArgs } from "./paths.js";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface LoadTarget {
  url: string;
  method: HttpMethod;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Replace `[<id>]` in the body with a fresh id per request. */
  idReplacement?: boolean;
  /**
   * One body per request instead of `body`, sent in order, each ONCE over the warm-up and the
   * measured run (for requests that consume what they carry, e.g. a single-use quote). Never
   * reused: each run is capped at the bodies left, and a run that used them up is reported
   * as a problem (its figure is not valid). `idReplacement` still applies to each.
   */
  bodies?: string[];
  /**
   * Quick mode: bodies running out ends the run early as a note, not a problem (a quick run
   * mints few and judges no figure).
   */
  bodiesMayRunOut?: boolean;
}

export interface LoadSettings {
  /** Total seconds, warm-up included. */
  durationS: number;
  warmupS: number;
  connections: number;
  pipelining: number;
}

export interface LoadResult {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Responses whose status was not 2xx. */
  non2xx: number;
  /** Connection errors, timeouts included. */
  errors: number;
  timeouts: number;
  /** Responses received in the measured window. */
  totalRequests: number;
  measuredS: number;
  statusCodes: Record<string, number>;
  /** Errors and non-2xx seen during the (discarded) warm-up. */
  warmup: { requests: number; non2xx: number; errors: number };
  /** With `bodies`: how many were supplied and how many requests took one (warm-up included). */
  bodies?: { supplied: number; used: number };
  /** CPU use during the measured window, in % of ONE core (null where /proc is unreadable). */
  cpu: {
    loadgenPct: number | null;
    serversPct: number | null;
    /** Whole machine, in % of ALL cores. */
    machineBusyPct: number | null;
    /** Interrupt + softirq time (mostly loopback TCP work), in % of one core. */
    irqPct: number | null;
    /**
     * Busy CPU charged to neither the load generator, the bench servers nor
     * interrupts, in % of one core: other processes on the machine (e.g. someone's
     * test run). High values mean a contended run.
     */
    otherPct: number | null;
  };
  settings: LoadSettings;
  /** Empty when the run is clean; otherwise what went wrong. Never average a run with problems. */
  problems: string[];
  /** What the reader should know that does not invalidate the run (e.g. a quick run's bodies ran out). */
  notes?: string[];
}

function envInt(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`bench: ${name}=${raw} must be an integer >= ${min}`);
  return value;
}

export function defaultLoadSettings(): LoadSettings {
  const durationS = envInt("BENCH_DURATION_S", 10, 2);
  const warmupS = envInt("BENCH_WARMUP_S", durationS >= 5 ? 2 : 1, 0);
  if (warmupS >= durationS)
    throw new Error(`bench: BENCH_WARMUP_S (${warmupS}) must be < BENCH_DURATION_S (${durationS})`);
  return {
    durationS,
    warmupS,
    connections: envInt("BENCH_CONNECTIONS", 50, 1),
    pipelining: envInt("BENCH_PIPELINING", 1, 1),
  };
}

/** One request, to fail fast (with the response shown) before loading a target that does not answer 2xx. */
export async function probe(target: LoadTarget): Promise<void> {
  const init: RequestInit = { method: target.method, signal: AbortSignal.timeout(10_000) };
  if (target.headers) init.headers = target.headers;
  if (target.body !== undefined)
    init.body = typeof target.body === "string" ? target.body : new Uint8Array(target.body);
  let res: Response;
  try {
    res = await fetch(target.url, init);
  } catch (err) {
    throw new Error(`probe ${target.method} ${target.url} failed: ${(err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) throw new Error(`probe ${target.method} ${target.url} answered ${res.status}: ${text.slice(0, 300)}`);
}

/** Runs warm-up + measured load against `target` and returns the measured figures. */
export async function runLoad(target: LoadTarget, settings: LoadSettings = defaultLoadSettings()): Promise<LoadResult> {
  const job: LoadJob = {
    url: target.url,
    method: target.method,
    headers: target.headers ?? {},
    bodyBase64: target.body === undefined ? null : Buffer.from(target.body).toString("base64"),
    idReplacement: target.idReplacement ?? false,
    bodies: target.bodies ?? null,
    bodiesMayRunOut: target.bodiesMayRunOut ?? false,
    settings,
    serverPids: liveChildPids(),
  };
  if (process.env.BENCH_LOADGEN === "inprocess") return measure(job);
  return runInWorker(job);
}

// ---------------------------------------------------------------------------
// Below: what runs where autocannon runs (the load-worker child, or in-process).

export interface LoadJob {
  url: string;
  method: HttpMethod;
  headers: Record<string, string>;
  bodyBase64: string | null;
  idReplacement: boolean;
  /** LoadTarget.bodies: one per request, each used once. */
  bodies: string[] | null;
  bodiesMayRunOut: boolean;
  settings: LoadSettings;
  /** Server processes whose CPU is measured during the window (trees). */
  serverPids: number[];
}

function runInWorker(job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = fork(benchPath("lib/load-worker.ts"), [], {
      execArgv: tsxImportArgs(),
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let settled = false;
    worker.once("message", (message: { ok: true; result: LoadResult } | { ok: false; error: string }) => {
      settled = true;
      if (message.ok) resolve(message.result);
      else reject(new Error(`load worker: ${message.error}`));
    });
    worker.once("error", (err) => {
      if (!settled) reject(err);
      settled = true;
    });
    worker.once("exit", (code, signal) => {
      if (!settled) reject(new Error(`load worker exited (code ${code}, signal ${signal}) without a result`));
      settled = true;
    });
    worker.send(job);
  });
}

interface RawRun {
  result: autocannon.Result;
  latencyUs: ReturnType<typeof createHistogram>;
  /** With bodies: connections that stopped because their share of the bodies left was used up. */
  connectionsOutOfBodies: number;
}

/** The bodies of a job and how far the runs of this measurement got through them (warm-up, then measured run). */
interface BodyCursor {
  bodies: string[];
  next: number;
}

/** autocannon's per-connection client, as far as it is read here (reqsMade, responseMax: lib/httpClient.js). */
interface CannonClient {
  reqsMade: number;
  responseMax?: number;
}

function autocannonRun(job: LoadJob, durationS: number, cursor: BodyCursor | null): Promise<RawRun> {
  const latencyUs = createHistogram();
  return new Promise((resolve, reject) => {
    const options: autocannon.Options = {
      url: job.url,
      method: job.method,
      headers: job.headers,
      connections: job.settings.connections,
      pipelining: job.settings.pipelining,
      duration: durationS,
      timeout: 10,
    };
    if (job.bodyBase64 !== null) options.body = Buffer.from(job.bodyBase64, "base64");
    if (job.idReplacement) options.idReplacement = true;
    const clients: CannonClient[] = [];
    if (cursor) {
      // Each request takes the next body (autocannon builds a connection's first request when it
      // creates it and every later one just before sending it: one body per request sent).
      // maxOverallRequests caps every connection at its share of the bodies left (autocannon
      // spreads it over the connections), so no request ever goes out without a body of its own;
      // a connection that reached its cap stops, and the run is then reported (see measure()).
      const left = cursor.bodies.length - cursor.next;
      options.maxOverallRequests = left;
      options.requests = [
        {
          setupRequest: (request) => {
            const body = cursor.bodies[cursor.next];
            if (body === undefined)
              throw new Error("bench: a request asked for a body after the last one (the cap should prevent this)");
            cursor.next += 1;
            return { ...request, body };
          },
        },
      ];
      options.setupClient = (client) => void clients.push(client as unknown as CannonClient);
    }
    const connectionsOutOfBodies = () =>
      clients.filter((c) => c.responseMax !== undefined && c.responseMax > 0 && c.reqsMade >= c.responseMax).length;
    const instance = autocannon(options, (err, result) =>
      err ? reject(err) : resolve({ result, latencyUs, connectionsOutOfBodies: connectionsOutOfBodies() }),
    );
    // autocannon's own histogram has 1 ms resolution; keep a microsecond one for p50/p99.
    instance.on("response", (_client, _status, _bytes, responseTimeMs: number) => {
      latencyUs.record(Math.max(1, Math.round(responseTimeMs * 1000)));
    });
  });
}

function cpuSnapshot(pids: number[]) {
  const servers = new Map<number, number>();
  for (const pid of pids) {
    const seconds = treeCpuSeconds(pid);
    if (seconds !== null) servers.set(pid, seconds);
  }
  return { at: process.hrtime.bigint(), self: process.cpuUsage(), servers, machine: machineJiffies() };
}

/** CPU seconds of the servers alive at both snapshots (a server that died meanwhile is left out), or null if none. */
function serversDelta(before: Map<number, number>, after: Map<number, number>): number | null {
  let total: number | null = null;
  for (const [pid, end] of after) {
    const start = before.get(pid);
    if (start !== undefined) total = (total ?? 0) + (end - start);
  }
  return total;
}

/** Warm-up, then measured run, in this process. */
export async function measure(job: LoadJob): Promise<LoadResult> {
  const { settings } = job;
  const measuredS = settings.durationS - settings.warmupS;
  const cursor: BodyCursor | null = job.bodies ? { bodies: job.bodies, next: 0 } : null;
  // Fewer bodies left than requests in flight at once: autocannon cannot even start (each connection needs one).
  const inFlight = settings.connections * settings.pipelining;
  const outOfBodies = () => cursor !== null && cursor.bodies.length - cursor.next < inFlight;
  if (outOfBodies())
    throw new Error(`only ${job.bodies?.length} bodies for ${inFlight} requests in flight: supply more`);
  const warmRun = settings.warmupS > 0 ? await autocannonRun(job, settings.warmupS, cursor) : null;
  const warm = warmRun?.result ?? null;
  if (outOfBodies())
    throw new Error(
      `the warm-up used ${cursor?.next} of ${job.bodies?.length} bodies, too few left for the measured run: supply more`,
    );

  const before = cpuSnapshot(job.serverPids);
  const { result, latencyUs, connectionsOutOfBodies } = await autocannonRun(job, measuredS, cursor);
  const after = cpuSnapshot(job.serverPids);

  const wallS = Number(after.at - before.at) / 1e9;
  const selfS = (after.self.user - before.self.user + after.self.system - before.self.system) / 1e6;
  const pct = (cpuS: number) => Math.round((cpuS / wallS) * 1000) / 10;
  const totalJiffies = after.machine && before.machine ? after.machine.total - before.machine.total : 0;
  const busyJiffies = after.machine && before.machine ? after.machine.busy - before.machine.busy : 0;
  const irqJiffies = after.machine && before.machine ? after.machine.irq - before.machine.irq : 0;
  const serversS = serversDelta(before.servers, after.servers);

  const statusCodes: Record<string, number> = {};
  const stats = (result as unknown as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {};
  for (const [code, { count }] of Object.entries(stats)) statusCodes[code] = count;

  const totalRequests = result.requests.total;
  const out: LoadResult = {
    requestsPerSec: Math.round((totalRequests / result.duration) * 10) / 10,
    p50Ms: latencyUs.count > 0 ? latencyUs.percentile(50) / 1000 : NaN,
    p99Ms: latencyUs.count > 0 ? latencyUs.percentile(99) / 1000 : NaN,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    totalRequests,
    measuredS: result.duration,
    statusCodes,
    warmup: { requests: warm?.requests.total ?? 0, non2xx: warm?.non2xx ?? 0, errors: warm?.errors ?? 0 },
    cpu: {
      loadgenPct: pct(selfS),
      serversPct: serversS === null ? null : pct(serversS),
      machineBusyPct: totalJiffies > 0 ? Math.round((busyJiffies / totalJiffies) * 1000) / 10 : null,
      irqPct: totalJiffies > 0 ? pct(irqJiffies / JIFFIES_PER_SECOND) : null,
      otherPct:
        totalJiffies > 0 && serversS !== null
          ? Math.max(0, pct((busyJiffies - irqJiffies) / JIFFIES_PER_SECOND - selfS - serversS))
          : null,
    },
    settings,
    problems: [],
  };
  if (cursor) out.bodies = { supplied: cursor.bodies.length, used: cursor.next };
  if (out.errors > 0) out.problems.push(`${out.errors} connection errors (${out.timeouts} timeouts)`);
  if (out.non2xx > 0) out.problems.push(`${out.non2xx} non-2xx responses (${JSON.stringify(statusCodes)})`);
  if (result.mismatches > 0) out.problems.push(`${result.mismatches} body mismatches`);
  if (totalRequests === 0) out.problems.push("no response at all in the measured window");
  const outOfBodiesConnections = connectionsOutOfBodies + (warmRun?.connectionsOutOfBodies ?? 0);
  if (cursor && outOfBodiesConnections > 0) {
    const ranOut =
      `the bodies ran out (${cursor.next} of ${cursor.bodies.length} used; ${outOfBodiesConnections} connection(s) stopped at their share ` +
      "before the duration ended): the load fell off, so the figure is not valid; supply more bodies";
    if (job.bodiesMayRunOut) out.notes = [...(out.notes ?? []), ranOut];
    else out.problems.push(ranOut);
  }
  if (out.warmup.errors > 0 || out.warmup.non2xx > 0)
    out.problems.push(`warm-up had ${out.warmup.errors} errors and ${out.warmup.non2xx} non-2xx`);
  return out;
}
