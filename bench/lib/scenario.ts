/**
 * What a benchmark scenario is. One file per scenario in bench/scenarios/
 * (see "Adding a scenario" in bench/README.md).
 */
import type { HttpMethod } from "./load.js";

export interface ScenarioTarget {
  /** The request autocannon repeats (same method/headers/body every time). */
  url: string;
  method: HttpMethod;
  headers: Record<string, string>;
  /** Request body; use "" or omit for none. */
  body?: string;
  /** Replace each `[<id>]` in the body with a fresh id per request (autocannon's idReplacement), e.g. idempotency keys. */
  idReplacement?: boolean;
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
   * Start the system under test IN CHILD PROCESSES (lib/child.ts startChild),
   * never in this process, do any setup (log in, seed), and return the request
   * to load. Must not return until the server answers. If it throws, it should
   * stop what it already started (anything left is SIGKILLed when the bench exits).
   */
  start(): Promise<ScenarioTarget>;
}
