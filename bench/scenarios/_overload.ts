/**
 * The overload measurement of gateway-overload and gateway-overload-mesh (GetMe: Connect JSON
 * through the gateway to identity) and of gateway-overload-booking (CreateBooking, the write
 * path): the call is first measured closed-loop to find the system's capacity
 * C, then offered at 1.5 × C open-loop (evenly paced, at most 600 connections). Overload
 * protection must keep the goodput at ≥ 90 % of C and answer every excess request with an
 * explicit 429/503 at once (p99 < 50 ms): no timeouts, no connection errors, no unbounded queue.
 *
 * The gateway's default class learns its concurrency limit (Gradient2, backing off while the
 * event loop lags) up to a ceiling of 200 (documented); the scenarios cap it at 48 with 16
 * waiting (at most QUEUE_MAX_WAIT_MS, 20 ms, and 5 ms while overloaded: the product's line, not the bench's closed-loop
 * one), so the overload is shed from its first second on any machine. Every run uses the same
 * settings, so the capacity includes their cost.
 *
 * Capacity is the most calls served per second by either of two closed loops: 16 connections
 * (never more than the limit's floor and the line hold, so nothing is refused) and 50. The
 * second keeps more calls in flight than the learnt limit admits once the loop lags: the limiter
 * refuses the excess, which the loop resends at once. Taking the better of the two keeps the
 * capacity from being understated either way (a server that serves more with more calls in
 * flight gets its due).
 */
import { randomUUID } from "node:crypto";
import { EVENT_LOOP_SAMPLE_MS } from "@weelo/metrics";
import { liveChildPids } from "../lib/child.js";
import { machineJiffies, treeCpuSeconds } from "../lib/cpu.js";
import { defaultLoadSettings } from "../lib/load.js";
import { isQuick } from "../lib/options.js";
import type { MeasureResult } from "../lib/scenario.js";
import { startWorkers } from "../lib/workers.js";
import { untilQuiet } from "./_half-capacity.js";
import type { OverloadLoadInput, OverloadLoadResult } from "./_overload-load.js";

const CONCURRENCY = 48;
const MAX_QUEUED = 16;
const CAPACITY_CONNECTIONS = [16, 50];
const OVERLOAD_CONNECTIONS = 600;

/** CPU seconds the bench's servers (here: the all-in-one) have used so far. */
function serverCpuSeconds(): number {
  return liveChildPids().reduce((sum, pid) => sum + (treeCpuSeconds(pid) ?? 0), 0);
}

type Measured = OverloadLoadResult & {
  cpuS: number;
  gatewayCpuS: number;
  /** The whole machine's busy share of all its cores over the window, in % (NaN: unknown). */
  machineBusyPct: number;
  windowS: number;
};

/**
 * A load run and the server CPU of its measured window (sampled from here: the window starts
 * when the worker's warm-up ends, give or take the worker's start-up, alike in both runs), all
 * the servers' and the gateway process's alone (NaN when it has no process of its own). On
 * a shared machine the server's share of a core changes from one run to the next; served
 * calls per server CPU-second do not, so they price a refusal whatever the contention.
 */
async function measured(input: OverloadLoadInput, gatewayPid: number | undefined): Promise<Measured> {
  const cpu: Array<{ all: number; gateway: number; machine: ReturnType<typeof machineJiffies> }> = [];
  const sample = () =>
    cpu.push({
      all: serverCpuSeconds(),
      gateway: gatewayPid === undefined ? Number.NaN : (treeCpuSeconds(gatewayPid) ?? Number.NaN),
      machine: machineJiffies(),
    });
  const timers = [input.warmupS, input.durationS].map((s) => setTimeout(sample, s * 1000));
  const result = await load(input);
  for (const timer of timers) clearTimeout(timer);
  const windowS = input.durationS - input.warmupS;
  const [from, to] = cpu;
  return {
    ...result,
    cpuS: from && to ? to.all - from.all : Number.NaN,
    gatewayCpuS: from && to ? to.gateway - from.gateway : Number.NaN,
    machineBusyPct:
      from?.machine && to?.machine && to.machine.total > from.machine.total
        ? (100 * (to.machine.busy - from.machine.busy)) / (to.machine.total - from.machine.total)
        : Number.NaN,
    windowS,
  };
}

/**
 * weelo_gateway_shed_total of an endpoint class, by reason, in a scrape of the gateway's
 * /metrics (empty when there is none: the figures then just leave it out).
 */
function shedByReason(metrics: string, endpointClass: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const match of metrics.matchAll(/^weelo_gateway_shed_total\{class="(\w+)",reason="(\w+)"\} (\d+)/gm))
    if (match[1] === endpointClass) counts.set(match[2]!, Number(match[3]));
  return counts;
}

/**
 * How late the gateway's event loop ran, p99 since the scrape before this one, in ms (NaN when
 * unknown). prom-client resets the histogram at each scrape: of a scrape before a run and one
 * after it, the second covers the run (warm-up included). Its figure is whole sampling
 * intervals, so the interval (EVENT_LOOP_SAMPLE_MS) is taken off.
 */
function gatewayLoopDelayP99Ms(metrics: string): number {
  const match = /^nodejs_eventloop_lag_p99_seconds(?:\{[^}]*\})? ([\d.e+-]+)/m.exec(metrics);
  return match ? Math.max(0, Number(match[1]) * 1000 - EVENT_LOOP_SAMPLE_MS) : Number.NaN;
}

/** The text of the gateway's /metrics ("" when the admin listener is unknown or does not answer). */
async function metricsOf(adminUrl: string | undefined): Promise<string> {
  if (!adminUrl) return "";
  return fetch(`${adminUrl}/metrics`)
    .then((response) => (response.ok ? response.text() : ""))
    .catch(() => "");
}

async function load(input: OverloadLoadInput): Promise<OverloadLoadResult> {
  const pool = startWorkers<OverloadLoadInput, OverloadLoadResult>("bench/scenarios/_overload-load.ts", 1, () => input);
  try {
    const [result] = await pool.results;
    return result!;
  } finally {
    pool.kill();
  }
}

/**
 * The gateway's admission as the product runs it (gateway.config.ts' floor, line and lag rule,
 * not the closed loops' CLOSED_LOOP_LINE), with the default class capped at CONCURRENCY.
 */
export const PRODUCT_ADMISSION = {
  QUEUE_DEFAULT_CONCURRENCY: String(CONCURRENCY),
  QUEUE_DEFAULT_MAX_QUEUED: String(MAX_QUEUED),
  // The booking class as the product ships it (the closed loops' line gives it 64 waiting).
  QUEUE_BOOKING_MAX_QUEUED: "12",
  ADAPTIVE_LIMIT_MIN: "10",
  QUEUE_MAX_WAIT_MS: "20",
  QUEUE_OVERLOADED_WAIT_MS: "5",
  ADAPTIVE_LIMIT_MAX_LOOP_LAG_MS: "20",
} as const;

/**
 * For the booking overloads: a booking no transporter takes (the bench has none) is offered
 * again in a wider wave every WAVE_DURATION_MS (30 s), each wave asking tracking and fleet again.
 * Over the bench's minutes those waves pile up (two thousand bookings in broadcast make some 70
 * waves a second), so each run would carry the earlier runs' bookings and the overload would be
 * judged against a capacity measured without them. With one wave an hour, every run pays for its
 * own bookings' first wave only.
 */
export const ONE_WAVE_PER_RUN = { WAVE_DURATION_MS: "3600000" } as const;

/** The system under overload: its gateway, the gateway's admin listener, a customer's login. */
export interface OverloadTarget {
  baseUrl: string;
  /** The gateway's admin listener (its /metrics give the refusals by reason); unknown: left out. */
  adminUrl: string | undefined;
  loginCustomer(): Promise<string>;
  /** The gateway's process, when it has one of its own (the mesh): its CPU is shown apart. */
  gatewayPid?: number;
}

/**
 * The call offered: a fixed body (GetMe), or single-use bodies (CreateBooking: a quote books one
 * order), minted before each run and not measured.
 */
export interface OverloadRoute {
  url: string;
  headers: Record<string, string>;
  /** The gateway's endpoint class of the call (its refusals are counted by class). */
  endpointClass: string;
  body?: string;
  /** `count` fresh bodies, each sent once; `[<id>]` in one becomes a fresh id. */
  mint?(count: number): Promise<string[]>;
  /** With `mint`: the most calls a second the closed loops are given bodies for. */
  maxPerS?: number;
}

/** GetMe as the system's customer: the overload scenarios' call unless they name another. */
async function getMeRoute(system: OverloadTarget): Promise<OverloadRoute> {
  const token = await system.loginCustomer();
  return {
    url: `${system.baseUrl}/weelo.identity.v1.ProfileService/GetMe`,
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    endpointClass: "default",
    body: "{}",
  };
}

/** Capacity, then 1.5 × capacity, against a system started with PRODUCT_ADMISSION (GetMe unless a route is given). */
export async function measureOverload(system: OverloadTarget, given?: OverloadRoute): Promise<MeasureResult> {
  const route = given ?? (await getMeRoute(system));
  // A cold all-in-one (tsx, JIT, pools) needs more than the usual 2 s before it runs at speed.
  const settings = defaultLoadSettings();
  const warmupS = Math.max(settings.warmupS, 5);
  const durationS = warmupS + (settings.durationS - settings.warmupS);
  const base = { url: route.url, headers: route.headers, body: route.body ?? "", durationS, warmupS };
  const bodies = async (count: number) =>
    route.mint && { bodies: (await route.mint(count)).map((body) => body.replaceAll("[<id>]", randomUUID())) };
  const capacityRuns = [];
  for (const connections of CAPACITY_CONNECTIONS)
    capacityRuns.push({
      connections,
      ...(await measured(
        {
          ...base,
          ...(await bodies(Math.ceil(durationS * (route.maxPerS ?? 0)) + connections)),
          connections,
          overallRate: 0,
        },
        system.gatewayPid,
      )),
    });
  const servedPerS = (run: OverloadLoadResult) => run.ok / run.measuredS;
  const capacityRun = capacityRuns.reduce((best, run) => (servedPerS(run) > servedPerS(best) ? run : best));
  const capacity = servedPerS(capacityRun);
  const offered = Math.round(1.5 * capacity);
  const overloadBodies = await bodies(Math.ceil(offered * durationS) + 10);
  // A closed loop of bookings leaves its cascade behind (events to relay and consume): the
  // overload starts from a quiet system, as the capacity runs did.
  const waitedMs = await untilQuiet();
  // One scrape before the run (it also starts the loop-delay window) and one after it.
  const shedBefore = shedByReason(await metricsOf(system.adminUrl), route.endpointClass);
  const overload = await measured(
    { ...base, ...overloadBodies, connections: OVERLOAD_CONNECTIONS, overallRate: offered },
    system.gatewayPid,
  );
  const metricsAfter = await metricsOf(system.adminUrl);
  const loopDelayP99Ms = gatewayLoopDelayP99Ms(metricsAfter);
  const shedAfter = shedByReason(metricsAfter, route.endpointClass);
  // Whole run (warm-up included): why the gateway refused, per second of the run.
  const shedReasons = [...shedAfter]
    .map(([reason, count]) => ({ reason, perS: (count - (shedBefore.get(reason) ?? 0)) / durationS }))
    .filter(({ perS }) => perS > 0);
  // Whole runs (warm-up included) on both sides: served calls per server CPU-second.
  const servedPerCpuS = (run: Measured) => run.ok / run.measuredS / (run.cpuS / run.windowS);
  const goodput = overload.ok / overload.measuredS;
  const refusedPerS = overload.refused / overload.measuredS;
  const answeredPerS = (overload.ok + overload.refused) / overload.measuredS;
  const otherCount = Object.values(overload.other).reduce((a, b) => a + b, 0);

  const problems: string[] = [];
  // Errors and timeouts are never expected. Refusals are, with 50 connections (above), but not
  // with 16: there, beyond 1 % (a stall of the machine longer than QUEUE_MAX_WAIT_MS), the
  // capacity would be understated.
  // Quick mode proves the scenario runs: there a busy machine's refusals at 16 are a note.
  const quickNotes: string[] = [];
  for (const run of capacityRuns) {
    const refusalsAllowed = run.connections > CAPACITY_CONNECTIONS[0]!;
    const otherStatuses = Object.keys(run.other).length > 0;
    const refusedTooOften = !refusalsAllowed && run.refused > 0.01 * run.ok;
    if (run.errors + run.timeouts > 0 || otherStatuses || refusedTooOften) {
      (refusedTooOften && run.errors + run.timeouts === 0 && !otherStatuses && isQuick() ? quickNotes : problems).push(
        `the capacity run at ${run.connections} connections was not clean: ${run.errors} errors, ${run.timeouts} timeouts, ${run.refused} refusals, other statuses ${JSON.stringify(run.other)}`,
      );
    }
    if (run.bodiesRanOut)
      problems.push(
        `the capacity run at ${run.connections} connections used up its ${Math.ceil(durationS * (route.maxPerS ?? 0))} bodies (its last calls were sent a used one): raise maxPerS`,
      );
  }
  if (overload.bodiesRanOut) problems.push("the overload run used up its bodies: the offered rate was not kept");
  return {
    figures: [
      ...capacityRuns.map((run) => ({
        label: `served in a closed loop of ${run.connections} connections${run === capacityRun ? " (the capacity)" : ""}`,
        value: Math.round(servedPerS(run)),
        unit: "req/s",
      })),
      ...capacityRuns.map((run) => ({
        label: `refused (429/503) in the closed loop of ${run.connections}`,
        value: run.refused,
        unit: "calls",
      })),
      { label: "offered load (1.5x capacity)", value: offered, unit: "req/s" },
      { label: "answered under overload", value: Math.round(answeredPerS), unit: "req/s" },
      {
        label: "goodput under overload",
        value: Math.round(goodput),
        unit: "req/s",
        baseline: { label: "capacity", value: Math.round(capacity) },
      },
      { label: "refused (429/503) under overload", value: Math.round(refusedPerS), unit: "req/s" },
      ...shedReasons.map(({ reason, perS }) => ({
        label: `  of which refused for ${reason} (gateway's count, whole run)`,
        value: Math.round(perS),
        unit: "req/s",
      })),
      {
        label: "served calls per server CPU-second under overload",
        value: Math.round(servedPerCpuS(overload)),
        unit: "calls",
        baseline: { label: "at capacity", value: Math.round(servedPerCpuS(capacityRun)) },
      },
      {
        label: "server CPU under overload (of one core)",
        value: Math.round((100 * overload.cpuS) / overload.windowS),
        unit: "%",
        baseline: { label: "capacity run", value: Math.round((100 * capacityRun.cpuS) / capacityRun.windowS) },
      },
      ...(Number.isFinite(overload.gatewayCpuS)
        ? [
            {
              label: "  of which the gateway process",
              value: Math.round((100 * overload.gatewayCpuS) / overload.windowS),
              unit: "%",
              baseline: {
                label: "capacity run",
                value: Math.round((100 * capacityRun.gatewayCpuS) / capacityRun.windowS),
              },
            },
          ]
        : []),
      {
        label: "the machine's CPU under overload (all cores: servers, load generator, databases)",
        value: Math.round(overload.machineBusyPct),
        unit: "%",
        baseline: { label: "capacity run", value: Math.round(capacityRun.machineBusyPct) },
      },
      { label: "p99 latency of a refusal", value: round(overload.refusedP99Ms), unit: "ms" },
      // Where a refusal's time went: waiting to be written (the load generator), then the round trip.
      {
        label: "  p99 of its wait before the load generator wrote it",
        value: round(overload.refusedSendDelayP99Ms),
        unit: "ms",
      },
      { label: "  p99 from its write to the answer", value: round(overload.refusedAfterWriteP99Ms), unit: "ms" },
      {
        label: "  how late the gateway's event loop ran, p99 (its own metric, whole run)",
        value: round(loopDelayP99Ms),
        unit: "ms",
      },
      { label: "p99 latency of a served call under overload", value: round(overload.okP99Ms), unit: "ms" },
      { label: "p99 latency of a served call at capacity", value: round(capacityRun.okP99Ms), unit: "ms" },
    ],
    checks: [
      {
        label: "goodput >= 0.9x capacity at 1.5x load",
        pass: goodput >= 0.9 * capacity,
        detail: `${(goodput / capacity).toFixed(2)}x`,
      },
      {
        label: "every excess request explicitly refused (no timeouts, errors or other statuses)",
        pass: overload.errors === 0 && overload.timeouts === 0 && otherCount === 0,
        detail: `${overload.errors} errors, ${overload.timeouts} timeouts, other statuses ${JSON.stringify(overload.other)}`,
      },
      {
        label: "refusals answered quickly (p99 < 50 ms)",
        pass: overload.refused > 0 && overload.refusedP99Ms < 50,
        detail: `${round(overload.refusedP99Ms)} ms over ${overload.refused} refusals`,
      },
    ],
    notes: [
      ...quickNotes,
      route.endpointClass === "default"
        ? `QUEUE_DEFAULT_CONCURRENCY=${CONCURRENCY} (the adaptive limit's ceiling), QUEUE_DEFAULT_MAX_QUEUED=${MAX_QUEUED} (defaults 200 / 50), QUEUE_MAX_WAIT_MS=20, QUEUE_OVERLOADED_WAIT_MS=5 and ADAPTIVE_LIMIT_MAX_LOOP_LAG_MS as the product's defaults, rate limits off (one user)`
        : `the ${route.endpointClass} class with the product's admission (its ceiling and line, QUEUE_MAX_WAIT_MS=20, QUEUE_OVERLOADED_WAIT_MS=5, the lag back-off), rate limits off (one user)`,
      ...(route.mint
        ? [
            `a body of its own per request (minted before each run, unmeasured; closed loops given ${route.maxPerS}/s; a call refused with 429 sends its body again: the admission refuses before it reads one)`,
          ]
        : []),
      Number.isFinite(waitedMs)
        ? `the overload started once the servers were quiet, ${(waitedMs / 1000).toFixed(1)} s after the capacity run (what it left behind done first)`
        : "the servers never went quiet after the capacity run: its backlog ran during the overload",
      `overload: requests paced evenly at the offered rate over at most ${OVERLOAD_CONNECTIONS} keep-alive connections (latency from each request's scheduled time), ${durationS - warmupS} s measured after ${warmupS} s of warm-up`,
      "served calls per server CPU-second: the robust figure on a shared machine (the server's share of a core differs between the two runs; this ratio prices a refusal whatever the contention)",
    ],
    problems,
  };
}

const round = (ms: number) => (Number.isFinite(ms) ? Math.round(ms * 10) / 10 : ms);
