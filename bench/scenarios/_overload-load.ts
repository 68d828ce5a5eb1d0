/**
 * Load worker of the gateway-overload scenario (a child process, started by lib/workers.ts):
 * autocannon against one URL, closed-loop (as fast as the connections allow) or open-loop at
 * a fixed overall rate, and the answers of the measured window sorted by outcome: 2xx
 * (goodput), explicit refusals (429/503) with their own latency, anything else.
 */
import autocannon from "autocannon";
import { percentile, runWorker } from "../lib/workers.js";

export interface OverloadLoadInput {
  url: string;
  headers: Record<string, string>;
  body: string;
  connections: number;
  /** Requests per second over all connections; 0 = as fast as the connections allow. */
  overallRate: number;
  durationS: number;
  warmupS: number;
}

export interface OverloadLoadResult {
  measuredS: number;
  ok: number;
  refused: number;
  /** Answers that are neither 2xx nor an explicit 429/503, by status. */
  other: Record<string, number>;
  errors: number;
  timeouts: number;
  okP50Ms: number;
  okP99Ms: number;
  refusedP50Ms: number;
  refusedP99Ms: number;
}

await runWorker<OverloadLoadInput, OverloadLoadResult>(async (input) => {
  const started = Date.now();
  const measureFrom = started + input.warmupS * 1000;
  let ok = 0;
  let refused = 0;
  let errors = 0;
  let timeouts = 0;
  const other: Record<string, number> = {};
  const okMs: number[] = [];
  const refusedMs: number[] = [];
  const options: autocannon.Options = {
    url: input.url,
    method: "POST",
    headers: input.headers,
    body: input.body,
    connections: input.connections,
    duration: input.durationS,
    timeout: 10,
  };
  if (input.overallRate > 0) options.overallRate = input.overallRate;
  await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(options, (error, res) => (error ? reject(error) : resolve(res)));
    instance.on("response", (_client, status: number, _bytes, responseTimeMs: number) => {
      if (Date.now() < measureFrom) return;
      if (status >= 200 && status < 300) {
        ok += 1;
        okMs.push(responseTimeMs);
      } else if (status === 429 || status === 503) {
        refused += 1;
        refusedMs.push(responseTimeMs);
      } else {
        other[status] = (other[status] ?? 0) + 1;
      }
    });
    // Timeouts are errors too ("request timed out"); only the measured window counts.
    instance.on("reqError", (error: Error) => {
      if (Date.now() < measureFrom) return;
      errors += 1;
      if (/timed out/.test(error.message)) timeouts += 1;
    });
  });
  const measuredS = (Date.now() - measureFrom) / 1000;
  return {
    measuredS,
    ok,
    refused,
    other,
    errors,
    timeouts,
    okP50Ms: percentile(okMs, 50),
    okP99Ms: percentile(okMs, 99),
    refusedP50Ms: percentile(refusedMs, 50),
    refusedP99Ms: percentile(refusedMs, 99),
  };
});
