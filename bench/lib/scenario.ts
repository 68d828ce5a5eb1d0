/**
 * What a benchmark scenario is. One file per scenario in bench/scenarios/
 * (see "Adding a scenario" in bench/README.md).
 */
import type { HttpMethod, LoadResult } from "./load.js";

export interface ScenarioTarget {
  /** The request autocannon repeats (same method/headers/body every time, unless `bodies` gives one per request). */
  url: string;
  method: HttpMethod;
  headers: Record<string, string>;
  /** Request body; use "" or omit for none. */
  body?: string;
  /** Replace each `[<id>]` in the body with a fresh id per request (autocannon's idReplacement), e.g. idempotency keys. */
  idReplacement?: boolean;
  /**
   * For requests that consume what they carry (a single-use quote): a body of its own per
   * request, in place of `body`. The runner mints `count` fresh ones just before the probe
   * (1) and before each measurement (duration × `maxRequestsPerSec`, plus one per connection),
   * so none has expired and none is ever sent twice (lib/load.ts: a run that uses them all up
   * is reported invalid, never topped up with a used one). Minting is not measured.
   */
  bodies?: {
    /** A generous ceiling of this scenario's rate on any machine (the list's size follows from it). */
    maxRequestsPerSec: number;
    mint(count: number): Promise<string[]>;
  };
  /**
   * Runs after each valid closed-loop measurement, on the same system, given its result: e.g.
   * an open-loop run at a fraction of the measured rate. Its figures and checks are printed
   * under the table and kept in this scenario's row of latest.json (`afterLoad`).
   */
  afterLoad?(measured: LoadResult): Promise<MeasureResult>;
  /** Stop everything `start()` started (servers, seeded data...). Called once, even after a failure. */
  stop(): Promise<void>;
}

export type ScenarioPassMark = { vsConnectEcho: number } | { vs: string; ratio: number };

export interface Scenario {
  /** Unique, kebab-case; what BENCH_ONLY matches. */
  name: string;
  /** One line for the report. */
  description?: string;
  /**
   * Optional pass mark, against the same run: requests/s of this scenario divided by
   * requests/s of the bare Connect echo (`vsConnectEcho`), or of another scenario that
   * is this one's natural baseline (`vs`: its name, `ratio`: the minimum).
   */
  target?: ScenarioPassMark;
  /**
   * Scenarios this one is read beside (e.g. the connect-grpc-hop floor): BENCH_ONLY brings
   * them along, as it brings `target.vs`.
   */
  beside?: string[];
  /**
   * Start the system under test IN CHILD PROCESSES (lib/child.ts startChild),
   * never in this process, do any setup (log in, seed), and return the request
   * to load. Must not return until the server answers. If it throws, it should
   * stop what it already started (anything left is SIGKILLed when the bench exits).
   */
  start(): Promise<ScenarioTarget>;
}

/** One figure a measure scenario reports, with the same-run baseline it is read against. */
export interface MeasureFigure {
  /** What was measured, e.g. "accepted points/s" or "p99 offer latency". */
  label: string;
  value: number;
  /** e.g. "points/s", "ms", "KB". */
  unit: string;
  /** The same quantity for the baseline measured in the same run (raw grpc-js echo, raw NATS, ...). */
  baseline?: { label: string; value: number };
}

/** A pass mark a measure scenario checks itself (e.g. "p99 < 250 ms", ">= 0.5x raw echo"). */
export interface MeasureCheck {
  label: string;
  pass: boolean;
  /** The figures behind the verdict, e.g. "182 ms" or "0.62x". */
  detail: string;
}

export interface MeasureResult {
  figures: MeasureFigure[];
  checks: MeasureCheck[];
  /** Anything the reader needs to judge the figures (settings, caveats). */
  notes?: string[];
  /** Errors seen during the run: when non-empty the figures are INVALID and the bench exits 1. */
  problems?: string[];
}

/**
 * A scenario that is not one HTTP request repeated (streams, fan-out latency, multi-step
 * flows): it starts its servers IN CHILD PROCESSES (lib/child.ts), drives its own load
 * (preferably from child processes too, e.g. lib/worker-pool.ts), measures its baseline in the
 * same run, stops everything it started (also on failure) and returns its figures.
 */
export interface MeasureScenario {
  /** Unique, kebab-case; what BENCH_ONLY matches. */
  name: string;
  /** One line for the report. */
  description?: string;
  measure(): Promise<MeasureResult>;
}

/**
 * Thrown by `start()` or `measure()` when the scenario cannot run here for a stated reason that
 * is no fault of the code (e.g. the mesh needs the real Postgres, Redis and NATS and their URLs
 * are not set): the runner prints the reason and goes on; the exit code is unaffected.
 */
export class ScenarioSkipped extends Error {
  override name = "ScenarioSkipped";
}
