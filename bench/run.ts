/**
 * `npm run bench`: measures the baselines and every scenario in the SAME run
 * with the SAME load generator, and prints each figure beside them:
 *
 *   raw-http       node:http POST /echo (parse JSON, reply JSON): the ceiling
 *   connect-echo   bare connect-node unary Echo over Connect JSON: the floor any
 *                  Connect route pays; scenario targets are stated against it
 *   <scenarios>    bench/scenarios/*.ts (BENCH_ONLY=name[,name|glob] to pick)
 *
 * Each server runs in its own child process and so does the load generator
 * (see lib/load.ts). Env:
 *   BENCH_DURATION_S (10)  BENCH_WARMUP_S (2)  BENCH_CONNECTIONS (50)  BENCH_PIPELINING (1)
 *   BENCH_ROUNDS (1)       rounds of the whole set, order alternating; the best round per target is kept
 *   BENCH_ONLY             scenario names/globs, comma-separated
 *   BENCH_STRICT=1         exit 1 when a scenario is BELOW its target (errors always exit 1)
 *   BENCH_LOADGEN=inprocess  run autocannon in this process instead of a child
 *   BENCH_VERBOSE=1        forward the servers' output
 *   --quick / BENCH_QUICK=1  every scenario briefly (lib/options.ts): proves each works, never judges a figure
 * Results: bench/results/latest.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { ECHO_BODY, ECHO_PATH } from "./baselines/echo-service.js";
import { startChild, type ChildServer } from "./lib/child.js";
import { defaultLoadSettings, probe, runLoad, type LoadResult, type LoadTarget } from "./lib/load.js";
import { sampleMachineBusyPct } from "./lib/cpu.js";
import { machineInfo } from "./lib/machine.js";
import {
  applyQuickDefaults,
  isQuick,
  parseBenchArgs,
  QUICK_BODIES_PER_S,
  USAGE,
  zeroThroughput,
} from "./lib/options.js";
import { benchPath } from "./lib/paths.js";
import {
  type MeasureResult,
  type MeasureScenario,
  type Scenario,
  type ScenarioPassMark,
  ScenarioSkipped,
  type ScenarioTarget,
} from "./lib/scenario.js";
import { isMeasure, loadScenarios, selectScenarios } from "./scenarios/_registry.js";

const RAW = "raw-http";
const CONNECT = "connect-echo";
/** The floor of a gateway route (bare Connect + one bare grpc-js hop): every row is also read against it. */
const HOP_FLOOR = "connect-grpc-hop";
/** Load generator at or above this % of one core: the figure may be the load generator's limit. */
const LOADGEN_SATURATED_PCT = 90;
/** CPU used by anything but the load generator and the servers, in % of one core, above which a run is "contended". */
const CONTENDED_OTHER_PCT = 15;
/** Machine busy (% of all cores) before the bench starts above which we warn. */
const BUSY_BEFORE_PCT = 15;

interface Entry {
  name: string;
  kind: "baseline" | "scenario";
  description: string;
  target?: ScenarioPassMark;
  load?: LoadTarget;
  /** ScenarioTarget.bodies: minted afresh before each measurement. */
  bodies?: ScenarioTarget["bodies"];
  afterLoad?: ScenarioTarget["afterLoad"];
  stop?: () => Promise<void>;
  rounds: LoadResult[];
  /** What `afterLoad` reported after each round, by round. */
  afterLoads: Map<LoadResult, MeasureResult>;
  /** Why this entry has no figure, if it has none. */
  failure?: string;
  /** Why this entry did not run here (ScenarioSkipped): no figure, and no failure either. */
  skipped?: string;
}

const isTty = process.stdout.isTTY;
const red = (s: string) => (isTty ? `\x1b[1;31m${s}\x1b[0m` : s);
const green = (s: string) => (isTty ? `\x1b[32m${s}\x1b[0m` : s);
const yellow = (s: string) => (isTty ? `\x1b[33m${s}\x1b[0m` : s);

function loud(lines: string[]): void {
  const bar = "!".repeat(78);
  console.log(red(bar));
  for (const line of lines) console.log(red(`!! ${line}`));
  console.log(red(bar));
}

function envRounds(): number {
  const raw = process.env.BENCH_ROUNDS ?? "1";
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`bench: BENCH_ROUNDS=${raw} must be an integer >= 1`);
  return n;
}

/**
 * The round kept for a target: its best (highest req/s). Interference from other
 * work on the machine only ever lowers throughput, so on a shared machine the
 * best of N rounds is the estimate least polluted by it (for every target alike).
 */
function bestRound(rounds: LoadResult[]): LoadResult | undefined {
  return rounds.reduce<LoadResult | undefined>(
    (best, r) => (best && best.requestsPerSec >= r.requestsPerSec ? best : r),
    undefined,
  );
}

const fmt = (n: number | null | undefined, digits = 0) =>
  n === null || n === undefined || Number.isNaN(n)
    ? "-"
    : n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

function table(header: string[], rows: string[][], rightAlign: Set<number>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (rightAlign.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

async function startBaseline(name: string, script: string, path: string, description: string): Promise<Entry> {
  const entry: Entry = { name, kind: "baseline", description, rounds: [], afterLoads: new Map() };
  let server: ChildServer | undefined;
  try {
    server = await startChild({ name, script: benchPath(script) });
    entry.stop = server.stop;
    entry.load = {
      url: `${server.baseUrl}${path}`,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: ECHO_BODY,
    };
    await probe(entry.load);
  } catch (err) {
    entry.failure = (err as Error).message;
  }
  return entry;
}

async function startScenario(scenario: Scenario): Promise<Entry> {
  const entry: Entry = {
    name: scenario.name,
    kind: "scenario",
    description: scenario.description ?? "",
    rounds: [],
    afterLoads: new Map(),
  };
  if (scenario.target) entry.target = scenario.target;
  try {
    const t = await scenario.start();
    entry.stop = () => t.stop();
    entry.load = { url: t.url, method: t.method, headers: t.headers };
    if (t.body !== undefined && t.body !== "") entry.load.body = t.body;
    if (t.bodies) {
      // The probe consumes what its body carries too: it gets a body of its own.
      entry.bodies = t.bodies;
      const [first] = await t.bodies.mint(1);
      if (first === undefined) throw new Error("bodies.mint(1) gave no body");
      await probe({ ...entry.load, body: first });
    } else {
      await probe(entry.load);
    }
    if (t.idReplacement) entry.load.idReplacement = true;
    if (t.afterLoad) entry.afterLoad = (measured) => t.afterLoad!(measured);
  } catch (err) {
    if (err instanceof ScenarioSkipped) entry.skipped = err.message;
    else entry.failure = `start/probe failed: ${(err as Error).message}`;
  }
  return entry;
}

async function main(): Promise<number> {
  const args = parseBenchArgs(process.argv.slice(2), process.env);
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  // Before anything reads the settings: scenario modules and their children read them from the environment.
  const quickFilled = args.quick ? applyQuickDefaults(process.env) : {};
  const quick = isQuick();
  const machine = machineInfo();
  const settings = defaultLoadSettings();
  const rounds = envRounds();
  const loadgen =
    process.env.BENCH_LOADGEN === "inprocess"
      ? "autocannon in the bench process"
      : "autocannon in its own child process";

  console.log(
    `machine: ${machine.cpuModel}, ${machine.cores} cores (available ${machine.availableParallelism}), ${machine.memoryGiB} GiB, ${machine.platform} ${machine.kernel}`,
  );
  console.log(`node:    ${machine.node} (v8 ${machine.v8}), load average 1m ${machine.loadAvg1m}`);
  console.log(
    `load:    ${loadgen}; ${settings.connections} connections, pipelining ${settings.pipelining}, ` +
      `${settings.durationS} s per measurement (${settings.warmupS} s warm-up discarded + ${settings.durationS - settings.warmupS} s measured), ` +
      `${rounds} round(s)`,
  );

  if (quick)
    console.log(
      `quick:   proves every scenario runs (valid responses, non-zero throughput); figures are NOT judged ` +
        `(BENCH_STRICT ignored); set here: ${Object.entries(quickFilled)
          .map(([k, v]) => `${k}=${v}`)
          .join(" ")}`,
    );

  const busyBefore = await sampleMachineBusyPct(1_000);
  if (busyBefore !== null && busyBefore > BUSY_BEFORE_PCT) {
    loud([
      `the machine is already ${busyBefore}% busy (all cores) before the bench starts: something else is running.`,
      "Figures will be low and 'vs raw' ratios too high; watch the 'other' CPU column, or use BENCH_ROUNDS=3.",
    ]);
  }

  const selected = selectScenarios(await loadScenarios(), process.env.BENCH_ONLY);
  const scenarios = selected.filter((s): s is Scenario => !isMeasure(s));
  const measures = selected.filter(isMeasure);
  console.log(`scenarios: ${selected.map((s) => s.name).join(", ") || "(none)"}\n`);

  const entries: Entry[] = [];
  let exitCode = 0;
  const starters: (() => Promise<Entry>)[] = [
    () => startBaseline(RAW, "baselines/raw-http-server.ts", "/echo", "node:http POST /echo, JSON in/out"),
    () =>
      startBaseline(
        CONNECT,
        "baselines/connect-echo-server.ts",
        ECHO_PATH,
        "bare connect-node unary Echo, Connect JSON",
      ),
    // The mesh scenarios last and together: they share one mesh (scenarios/_mesh.ts).
    ...[...scenarios]
      .sort((a, b) => Number(a.name.endsWith("-mesh")) - Number(b.name.endsWith("-mesh")))
      .map((scenario) => () => startScenario(scenario)),
  ];
  const announce = (e: Entry) => {
    if (e.skipped) console.log(yellow(`${e.name}: SKIPPED: ${e.skipped}`));
    if (e.failure) loud([`${e.name}: ${e.failure.split("\n")[0]}`, ...e.failure.split("\n").slice(1, 20)]);
  };
  const stopEntry = async (e: Entry) => {
    try {
      await e.stop?.();
    } catch (err) {
      console.error(`bench: stopping ${e.name}: ${(err as Error).message}`);
    }
    e.stop = undefined;
  };
  const measure = async (e: Entry, label: string) => {
    const started = Date.now();
    process.stdout.write(`${label}${e.name} ... `);
    try {
      let load = e.load as LoadTarget;
      if (e.bodies) {
        // Fresh bodies for this measurement only (warm-up included), minted before it starts. A
        // quick run mints fewer (QUICK_BODIES_PER_S), and bodies running out only ends it early.
        const perS = quick ? Math.min(e.bodies.maxRequestsPerSec, QUICK_BODIES_PER_S) : e.bodies.maxRequestsPerSec;
        const count = Math.ceil(settings.durationS * perS) + settings.connections * settings.pipelining;
        const mintStarted = Date.now();
        const bodies = await e.bodies.mint(count);
        process.stdout.write(
          `(${fmt(bodies.length)} bodies minted in ${((Date.now() - mintStarted) / 1000).toFixed(1)} s) `,
        );
        load = { ...load, bodies, bodiesMayRunOut: quick };
      }
      const r = await runLoad(load, settings);
      if (!(r.requestsPerSec > 0) && r.problems.length === 0)
        r.problems.push("no request completed in the measured window: the scenario moved nothing");
      e.rounds.push(r);
      console.log(
        `${fmt(r.requestsPerSec)} req/s, p50 ${fmt(r.p50Ms, 2)} ms, p99 ${fmt(r.p99Ms, 2)} ms, ` +
          `cpu loadgen ${fmt(r.cpu.loadgenPct)}% servers ${fmt(r.cpu.serversPct)}% other ${fmt(r.cpu.otherPct)}% ` +
          `(${((Date.now() - started) / 1000).toFixed(1)} s)`,
      );
      if (r.problems.length > 0) loud([`${e.name}: the run had errors; its figure is NOT valid`, ...r.problems]);
      for (const note of r.notes ?? []) console.log(`  note: ${note}`);
      if (e.afterLoad && r.problems.length === 0) {
        const followStarted = Date.now();
        process.stdout.write(`${label}${e.name} after load ... `);
        const after = await e.afterLoad(r);
        e.afterLoads.set(r, after);
        console.log(`done (${((Date.now() - followStarted) / 1000).toFixed(1)} s)`);
      }
    } catch (err) {
      console.log("failed");
      e.failure = `load failed: ${(err as Error).message}`;
      loud([`${e.name}: ${e.failure}`]);
    }
  };
  try {
    if (rounds === 1) {
      // One round: each target lives only for its own measurement (a 2-core machine does not
      // carry a dozen idle systems well). The next one starts before this one stops, so that
      // targets sharing a system (the mesh) keep it between them; nothing is loaded meanwhile.
      let next: Entry | undefined = await starters[0]!();
      for (let i = 0; next; i++) {
        const e: Entry = next;
        entries.push(e);
        announce(e);
        if (!e.failure && !e.skipped && e.load) await measure(e, "");
        next = i + 1 < starters.length ? await starters[i + 1]!() : undefined;
        await stopEntry(e);
      }
    } else {
      // Several rounds: every target is started first, then loaded once per round.
      for (const start of starters) entries.push(await start());
      for (const e of entries) announce(e);
      const runnable = entries.filter((e) => !e.failure && !e.skipped && e.load);
      for (let round = 0; round < rounds; round++) {
        // Alternate the order between rounds so slow drift of the machine does not always favour the same target.
        const order = round % 2 === 0 ? runnable : [...runnable].reverse();
        for (const e of order) {
          if (e.failure) continue; // its load failed in an earlier round
          await measure(e, `round ${round + 1}/${rounds} `);
        }
      }
    }
  } finally {
    for (const e of entries) await stopEntry(e);
  }

  // ---- report -------------------------------------------------------------
  const chosen = new Map(entries.map((e) => [e.name, bestRound(e.rounds)] as const));
  const invalid = (e: Entry) =>
    Boolean(e.failure) || e.rounds.some((r) => r.problems.length > 0) || (!e.skipped && e.rounds.length === 0);
  const rawRps = entries.find((e) => e.name === RAW && !invalid(e)) ? chosen.get(RAW)?.requestsPerSec : undefined;
  const connectRps = entries.find((e) => e.name === CONNECT && !invalid(e))
    ? chosen.get(CONNECT)?.requestsPerSec
    : undefined;

  const ratioTo = (name: string) => {
    const reference = entries.find((x) => x.name === name);
    const rps = reference && !invalid(reference) ? chosen.get(name)?.requestsPerSec : undefined;
    return (own: number | undefined) => (own !== undefined && rps ? own / rps : undefined);
  };
  const rows: string[][] = [];
  const json: unknown[] = [];
  let anyBelow = false;
  for (const e of entries) {
    const r = chosen.get(e.name);
    const bad = invalid(e);
    const vsRaw = r && rawRps && !bad ? r.requestsPerSec / rawRps : undefined;
    const vsConnect = r && connectRps && !bad ? r.requestsPerSec / connectRps : undefined;
    const vsHop = ratioTo(HOP_FLOOR)(bad ? undefined : r?.requestsPerSec);
    let verdict = "";
    if (e.target) {
      // Against the Connect echo, or against another scenario of this run (its natural baseline).
      const mark = "vsConnectEcho" in e.target ? e.target.vsConnectEcho : e.target.ratio;
      const label = "vsConnectEcho" in e.target ? `>=${mark}` : `>=${mark}x ${e.target.vs}`;
      const reference =
        "vsConnectEcho" in e.target ? vsConnect : ratioTo(e.target.vs)(bad ? undefined : r?.requestsPerSec);
      if (reference === undefined) verdict = `${label} ?`;
      else if (reference >= mark) verdict = `${label} PASS (${reference.toFixed(2)})`;
      else {
        verdict = `${label} BELOW (${reference.toFixed(2)})`;
        anyBelow = true;
      }
    }
    const notes: string[] = [];
    if (e.skipped) notes.push(`SKIPPED: ${e.skipped}`);
    if (e.failure) notes.push(`FAILED: ${e.failure.split("\n")[0]}`);
    const problems = e.rounds.flatMap((x) => x.problems);
    if (problems.length > 0) notes.push(`INVALID: ${problems.join("; ")}`);
    if (!bad && r && r.cpu.loadgenPct !== null && r.cpu.loadgenPct >= LOADGEN_SATURATED_PCT)
      notes.push("loadgen-bound? (figure is a lower bound)");
    if (r && r.cpu.otherPct !== null && r.cpu.otherPct >= CONTENDED_OTHER_PCT)
      notes.push(`contended (other work took ${fmt(r.cpu.otherPct)}% of a core)`);
    if (rounds > 1 && e.rounds.length > 1) {
      const rps = e.rounds.map((x) => x.requestsPerSec);
      notes.push(`rounds ${fmt(Math.min(...rps))}..${fmt(Math.max(...rps))}`);
    }
    if (bad && !e.skipped) exitCode = 1;

    rows.push([
      e.kind === "baseline" ? `${e.name} (baseline)` : e.name,
      bad ? red(r ? `(${fmt(r.requestsPerSec)})` : "-") : fmt(r?.requestsPerSec),
      fmt(r?.p50Ms, 2),
      fmt(r?.p99Ms, 2),
      vsRaw === undefined ? "-" : vsRaw.toFixed(3),
      vsConnect === undefined ? "-" : vsConnect.toFixed(3),
      vsHop === undefined || e.kind === "baseline" ? "-" : vsHop.toFixed(3),
      verdict.includes("PASS") ? green(verdict) : verdict.includes("BELOW") ? yellow(verdict) : verdict,
      r ? `${fmt(r.cpu.loadgenPct)}/${fmt(r.cpu.serversPct)}/${fmt(r.cpu.otherPct)}%` : "-",
      notes.join("; "),
    ]);
    json.push({
      name: e.name,
      kind: e.kind,
      description: e.description,
      valid: !bad && !e.skipped,
      failure: e.failure ?? null,
      skipped: e.skipped ?? null,
      requestsPerSec: r?.requestsPerSec ?? null,
      p50Ms: r?.p50Ms ?? null,
      p99Ms: r?.p99Ms ?? null,
      vsRawHttp: vsRaw ?? null,
      vsConnectEcho: vsConnect ?? null,
      vsConnectGrpcHop: e.kind === "baseline" ? null : (vsHop ?? null),
      target: e.target ?? null,
      verdict: e.target ? (verdict.includes("PASS") ? "PASS" : verdict.includes("BELOW") ? "BELOW" : null) : null,
      rounds: e.rounds,
      ...(r && e.afterLoads.has(r) ? { afterLoad: e.afterLoads.get(r) } : {}),
    });
  }

  console.log("");
  console.log(
    table(
      [
        "scenario",
        "req/s",
        "p50 ms",
        "p99 ms",
        "vs raw",
        "vs connect",
        "vs hop floor",
        "target",
        "cpu loadgen/servers/other",
        "notes",
      ],
      rows,
      new Set([1, 2, 3, 4, 5, 6]),
    ),
  );
  console.log(
    "\ncpu = % of ONE core during the measured window: loadgen = autocannon; servers = all bench server processes and\n" +
      "their children; other = the rest of the machine's busy time, interrupts excepted (i.e. other processes).\n" +
      `With ${machine.cores} cores, loadgen near 100% means the load generator set the pace. A high 'other' means the\n` +
      "run shared the machine: 'vs connect' stays roughly comparable (both sides are bound by one server core), 'vs raw'\n" +
      "does not (raw-http needs both cores, loses most to contention, and the ratio rises). Rerun on a quiet machine\n" +
      "(or with BENCH_ROUNDS=3: the best round is kept) before trusting 'vs raw'.",
  );

  for (const e of entries) {
    const r = chosen.get(e.name);
    const after = r && e.afterLoads.get(r);
    if (!after) continue;
    printMeasure(`${e.name} (after load)`, e.description, after);
    if ((after.problems ?? []).length > 0) exitCode = 1;
    if (after.checks.some((c) => !c.pass)) anyBelow = true;
  }

  const measured = await runMeasures(measures);
  for (const m of measured) {
    if ((!m.result && !m.skipped) || (m.result?.problems ?? []).length > 0) exitCode = 1;
    if (m.result?.checks.some((c) => !c.pass)) anyBelow = true;
    json.push({
      name: m.name,
      kind: "measure",
      description: m.description,
      valid: Boolean(m.result) && (m.result?.problems ?? []).length === 0,
      failure: m.failure ?? null,
      skipped: m.skipped ?? null,
      ...m.result,
    });
  }

  const resultsDir = benchPath("results");
  mkdirSync(resultsDir, { recursive: true });
  const file = `${resultsDir}/latest.json`;
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        at: new Date().toISOString(),
        machine,
        machineBusyBeforePct: busyBefore,
        settings: { ...settings, rounds, loadgen: process.env.BENCH_LOADGEN === "inprocess" ? "inprocess" : "child" },
        only: process.env.BENCH_ONLY ?? null,
        quick,
        results: json,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`results: ${file}`);

  if (exitCode !== 0)
    loud(["some figures are missing or invalid (errors / non-2xx / failed start): see the notes above"]);
  if (anyBelow && process.env.BENCH_STRICT === "1" && !quick) exitCode = 1;
  return exitCode;
}

interface Measured {
  name: string;
  description: string;
  result?: MeasureResult;
  failure?: string;
  skipped?: string;
}

/** Runs the measure scenarios one after another (each starts and stops its own servers) and prints their figures. */
async function runMeasures(measures: MeasureScenario[]): Promise<Measured[]> {
  const done: Measured[] = [];
  for (const scenario of measures) {
    const entry: Measured = { name: scenario.name, description: scenario.description ?? "" };
    const started = Date.now();
    process.stdout.write(`\n${scenario.name} ... `);
    try {
      entry.result = await scenario.measure();
      const zero = zeroThroughput(entry.result.figures);
      if (zero.length > 0) entry.result.problems = [...(entry.result.problems ?? []), ...zero];
      console.log(`done (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (err) {
      if (err instanceof ScenarioSkipped) {
        console.log(yellow(`SKIPPED: ${err.message}`));
        entry.skipped = err.message;
      } else {
        console.log("failed");
        entry.failure = (err as Error).stack ?? String(err);
        loud([`${scenario.name}: ${(err as Error).message}`]);
      }
    }
    done.push(entry);
  }
  for (const m of done) if (m.result) printMeasure(m.name, m.description, m.result);
  return done;
}

/** A measure's figures, checks, notes and problems, as a table under the scenario's name. */
function printMeasure(name: string, description: string, result: MeasureResult): void {
  console.log(`\n${name}: ${description}`);
  const rows = result.figures.map((f) => [
    f.label,
    `${fmt(f.value, f.value < 100 ? 2 : 0)} ${f.unit}`,
    f.baseline ? `${fmt(f.baseline.value, f.baseline.value < 100 ? 2 : 0)} ${f.unit} (${f.baseline.label})` : "-",
    f.baseline && f.baseline.value !== 0 ? `${(f.value / f.baseline.value).toFixed(2)}x` : "-",
  ]);
  console.log(table(["figure", "value", "same-run baseline", "ratio"], rows, new Set([1, 2, 3])));
  for (const c of result.checks) console.log(`  ${c.pass ? green("PASS ") : yellow("BELOW")} ${c.label}: ${c.detail}`);
  for (const n of result.notes ?? []) console.log(`  note: ${n}`);
  if ((result.problems ?? []).length > 0)
    loud([`${name}: the run had errors; its figures are NOT valid`, ...(result.problems ?? [])]);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
