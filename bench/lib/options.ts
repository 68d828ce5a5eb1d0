/**
 * The bench's command line and its quick mode.
 *
 * `npm run bench -- --quick` (or BENCH_QUICK=1) runs every scenario briefly, with fewer
 * connections, streams and drivers, so the whole bench finishes in a few minutes on 2 cores.
 * It proves that each scenario works (valid responses, non-zero throughput) and never judges a
 * figure: BENCH_STRICT is ignored, and the exit code is 1 only when a scenario breaks (a failed
 * start, errors, non-2xx, a figure of zero). CI runs it (.ci/run).
 *
 * Quick mode only fills in settings that are not set: BENCH_DURATION_S=6 npm run bench -- --quick
 * keeps 6 s per measurement.
 */

export interface BenchArgs {
  quick: boolean;
  help: boolean;
}

export const USAGE = `usage: npm run bench [-- --quick]
  --quick    every scenario briefly (short runs, few connections/streams): proves each one works,
             never gates on a figure (same as BENCH_QUICK=1)
  --help     this text
Settings are environment variables: see bench/README.md (BENCH_ONLY, BENCH_DURATION_S, ...).`;

/** Parses the bench's arguments (after `--`) and BENCH_QUICK; throws on an unknown argument. */
export function parseBenchArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): BenchArgs {
  const args: BenchArgs = { quick: env.BENCH_QUICK === "1" || env.BENCH_QUICK === "true", help: false };
  for (const arg of argv) {
    if (arg === "--quick") args.quick = true;
    else if (arg === "--help" || arg === "-h") args.help = true;
    else throw new Error(`bench: unknown argument ${JSON.stringify(arg)}\n${USAGE}`);
  }
  return args;
}

/**
 * What quick mode sets when the environment does not: 3 s per measurement (1 s warm-up), 10
 * connections, one round; 200 driver streams (5 watched) from one worker; 500 drivers, 50
 * transporters and 10 bookings/s for dispatch.
 */
export const QUICK_DEFAULTS: Readonly<Record<string, string>> = {
  BENCH_DURATION_S: "3",
  BENCH_WARMUP_S: "1",
  BENCH_CONNECTIONS: "10",
  BENCH_ROUNDS: "1",
  BENCH_TRACKING_STREAMS: "200",
  BENCH_TRACKING_TRIPS: "5",
  BENCH_TRACKING_WORKERS: "1",
  BENCH_DRIVERS: "500",
  BENCH_TRANSPORTERS: "50",
  BENCH_DISPATCH_RATE: "10",
};

/**
 * Puts the quick defaults into `env` where unset (scenario modules and their children read them
 * from the environment) and marks the run quick (BENCH_QUICK=1). Returns the settings it filled in.
 */
export function applyQuickDefaults(env: Record<string, string | undefined>): Record<string, string> {
  const filled: Record<string, string> = {};
  for (const [key, value] of Object.entries(QUICK_DEFAULTS)) {
    if (env[key] === undefined || env[key] === "") {
      env[key] = value;
      filled[key] = value;
    }
  }
  env.BENCH_QUICK = "1";
  return filled;
}

/**
 * A quick run mints at most this many single-use bodies (CreateBooking's quotes) per second of
 * measurement: minting a full run's worth (1,000/s) would take longer than the whole quick bench.
 */
export const QUICK_BODIES_PER_S = 200;

/** Whether this run is quick (after run.ts applied the arguments). */
export function isQuick(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return env.BENCH_QUICK === "1";
}

/**
 * A measure scenario whose throughput figures (unit ".../s") are all zero moved nothing: it
 * broke, whatever the machine's speed. One zero among others can be right (no refusals when
 * the overload did not bite), so only all of them zero is a problem.
 */
export function zeroThroughput(figures: readonly { label: string; value: number; unit: string }[]): string[] {
  const rates = figures.filter((f) => /\/s$/.test(f.unit));
  if (rates.length === 0 || rates.some((f) => f.value > 0)) return [];
  return [`every throughput figure is zero (${rates.map((f) => f.label).join(", ")}): the scenario moved nothing`];
}
