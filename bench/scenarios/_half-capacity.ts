/**
 * Latency at half capacity: after a route's closed-loop measurement (its capacity C: every
 * connection sends again as soon as it is answered, so latency there is mostly queueing), the
 * same route is offered 0.5 × C open-loop, requests paced evenly (scenarios/_overload-load.ts,
 * the overload scenario's worker), latency counted from each request's scheduled time. Its p99
 * is what a customer meets on a system that is busy but not saturated. It starts once the
 * servers are quiet again: the closed loop leaves work behind (events not yet relayed or
 * consumed), which would otherwise run during the open loop.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { liveChildPids } from "../lib/child.js";
import { treeCpuSeconds } from "../lib/cpu.js";
import { defaultLoadSettings, type LoadResult } from "../lib/load.js";
import type { MeasureResult } from "../lib/scenario.js";
import { startWorkers } from "../lib/workers.js";
import type { OverloadLoadInput, OverloadLoadResult } from "./_overload-load.js";

/** Fraction of the measured closed-loop rate offered open-loop. */
const FRACTION = 0.5;
/** The pass mark of a booking at half capacity (issue 15, target 2). */
const P99_TARGET_MS = 100;
/**
 * Keep-alive connections the open loop may open (only as many as requests in flight need): an
 * open loop held to the closed loop's few connections (BENCH_CONNECTIONS=1) would queue its
 * requests in the client and measure that queue.
 */
const OPEN_LOOP_CONNECTIONS = 100;
/**
 * The servers count as quiet below this share of one core (an idle all-in-one polls at ~2%).
 * The closed loop leaves work behind (events the relay and the consumers have not handled
 * yet): the open loop starts once it is done, or it would measure that backlog.
 */
const QUIET_CPU_PCT = 25;
const QUIET_MAX_WAIT_MS = 60_000;
/** Extra bodies beyond rate × duration: the pacing's rounding, nothing more is ever sent. */
const SPARE_BODIES = 10;

export interface HalfCapacityRoute {
  url: string;
  headers: Record<string, string>;
  /** `count` fresh request bodies (single-use: each is sent once); `[<id>]` becomes a fresh id in each. */
  mint(count: number): Promise<string[]>;
}

/** The `afterLoad` of a route: offers it FRACTION × the measured rate open-loop and reports that run's latency. */
export function halfCapacity(route: HalfCapacityRoute): (measured: LoadResult) => Promise<MeasureResult> {
  return async (measured) => {
    const settings = defaultLoadSettings();
    const offered = Math.max(1, Math.round(FRACTION * measured.requestsPerSec));
    const minted = await route.mint(Math.ceil(offered * settings.durationS) + SPARE_BODIES);
    const bodies = minted.map((body) => body.replaceAll("[<id>]", randomUUID()));
    const waitedMs = await untilQuiet();
    const input: OverloadLoadInput = {
      url: route.url,
      headers: route.headers,
      body: "",
      bodies,
      connections: Math.max(settings.connections, OPEN_LOOP_CONNECTIONS),
      overallRate: offered,
      durationS: settings.durationS,
      warmupS: settings.warmupS,
    };
    const pool = startWorkers<OverloadLoadInput, OverloadLoadResult>(
      "bench/scenarios/_overload-load.ts",
      1,
      () => input,
    );
    let run: OverloadLoadResult;
    try {
      [run] = (await pool.results) as [OverloadLoadResult];
    } finally {
      pool.kill();
    }
    const otherCount = Object.values(run.other).reduce((a, b) => a + b, 0);
    const answeredPerS = run.ok / run.measuredS;
    const problems: string[] = [];
    if (run.errors + run.timeouts + run.refused + otherCount > 0)
      problems.push(
        `not every request was served: ${run.errors} errors, ${run.timeouts} timeouts, ${run.refused} refusals, other statuses ${JSON.stringify(run.other)}`,
      );
    return {
      figures: [
        { label: "offered open-loop (0.5x the closed-loop rate)", value: offered, unit: "req/s" },
        { label: "served", value: Math.round(answeredPerS * 10) / 10, unit: "req/s" },
        { label: "p50 latency at half capacity", value: round(run.okP50Ms), unit: "ms" },
        {
          label: "p99 latency at half capacity",
          value: round(run.okP99Ms),
          unit: "ms",
          baseline: { label: "closed loop at capacity", value: round(measured.p99Ms) },
        },
      ],
      checks: [
        {
          label: "kept pace (served >= 0.9x offered)",
          pass: answeredPerS >= 0.9 * offered,
          detail: `${answeredPerS.toFixed(1)} of ${offered} req/s`,
        },
        {
          label: `p99 < ${P99_TARGET_MS} ms at half capacity`,
          pass: run.okP99Ms < P99_TARGET_MS,
          detail: `${round(run.okP99Ms)} ms over ${run.ok} requests`,
        },
      ],
      notes: [
        Number.isFinite(waitedMs)
          ? `started once the servers were quiet (< ${QUIET_CPU_PCT}% of a core), ${(waitedMs / 1000).toFixed(1)} s after its bodies were minted: the closed loop's backlog (relay, consumers) done first`
          : `the servers never went quiet (< ${QUIET_CPU_PCT}% of a core) within ${QUIET_MAX_WAIT_MS / 1000} s: the closed loop's backlog may still have run during this one`,
        `requests paced evenly at ${offered} req/s over at most ${input.connections} keep-alive connections, each with a body of its own, latency from its scheduled time; ${settings.durationS - settings.warmupS} s measured after ${settings.warmupS} s`,
      ],
      problems,
    };
  };
}

/** Waits until the bench's servers use less than QUIET_CPU_PCT of a core over a second; how long it took (Infinity: never). */
export async function untilQuiet(): Promise<number> {
  const started = performance.now();
  const cpu = () => liveChildPids().reduce((sum, pid) => sum + (treeCpuSeconds(pid) ?? 0), 0);
  while (performance.now() - started < QUIET_MAX_WAIT_MS) {
    const before = cpu();
    await sleep(1000);
    if ((cpu() - before) * 100 < QUIET_CPU_PCT) return performance.now() - started;
  }
  return Number.POSITIVE_INFINITY;
}

const round = (ms: number) => (Number.isFinite(ms) ? Math.round(ms * 10) / 10 : ms);
