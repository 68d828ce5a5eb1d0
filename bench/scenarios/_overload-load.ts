/**
 * Load worker of the gateway-overload scenario (a child process, started by lib/workers.ts):
 * closed-loop, autocannon as fast as the connections allow; open-loop, requests paced evenly
 * at a fixed overall rate over a pool of keep-alive connections (lib/paced-http.ts; autocannon's overallRate
 * sends each connection's quota in a burst at the start of every second: 1.5x capacity in
 * one burst a second, then silence, is not the steady overload this scenario is about). The
 * answers of the measured window are sorted by outcome: 2xx (goodput), explicit refusals
 * (429/503) with their own latency, anything else. An open-loop latency counts from the
 * request's scheduled time, so a request held back by busy connections is not flattered.
 */
import autocannon from "autocannon";
import { PacedHttp } from "../lib/paced-http.js";
import { percentile, runWorker } from "../lib/workers.js";

export interface OverloadLoadInput {
  url: string;
  headers: Record<string, string>;
  body: string;
  /**
   * One body per request instead of `body`, sent in order, each once (requests that consume what
   * they carry, e.g. a single-use quote). The open loop sends no request once they run out; a
   * closed loop sends the body of a call refused with 429 again, and reports running out (`bodiesRanOut`).
   */
  bodies?: string[];
  connections: number;
  /** Requests per second over all connections; 0 = as fast as the connections allow. */
  overallRate: number;
  durationS: number;
  warmupS: number;
}

export interface OverloadLoadResult {
  measuredS: number;
  /** A run with `bodies` that used them up (the open loop then sent fewer than offered). */
  bodiesRanOut: boolean;
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
  /**
   * Open loop only (NaN in a closed loop): a refusal's latency split at its write. How late the
   * load generator wrote it (no socket free, or its own loop late on a shared machine), and the
   * rest, from the write to the answer (the network, the kernel and the server).
   */
  refusedSendDelayP99Ms: number;
  refusedAfterWriteP99Ms: number;
}

await runWorker<OverloadLoadInput, OverloadLoadResult>(async (input) =>
  input.overallRate > 0 ? paced(input) : closedLoop(input),
);

async function closedLoop(input: OverloadLoadInput): Promise<OverloadLoadResult> {
  const started = Date.now();
  const measureFrom = started + input.warmupS * 1000;
  let ok = 0;
  let refused = 0;
  let errors = 0;
  let timeouts = 0;
  const other: Record<string, number> = {};
  const okMs: number[] = [];
  const refusedMs: number[] = [];
  const { bodies } = input;
  let nextBody = 0;
  let bodiesRanOut = false;
  // A call the gateway refused with 429 (its admission and rate limits, decided before it reads
  // a body) used nothing it carried: its body is sent again. A 503 may come from upstream, after
  // the body was used: that one is spent.
  const returned: string[] = [];
  const takeBody = () => {
    const body = returned.pop() ?? bodies![nextBody++];
    if (body !== undefined) return body;
    bodiesRanOut = true; // the run is reported as such; this resend of the last body is a 4xx
    return bodies![bodies!.length - 1];
  };
  const options: autocannon.Options = {
    url: input.url,
    method: "POST",
    headers: input.headers,
    body: input.body,
    connections: input.connections,
    duration: input.durationS,
    timeout: 10,
    // Each request takes the next body, or one a refusal gave back.
    ...(bodies && {
      requests: [
        {
          // The connection's context remembers what its call carried.
          setupRequest: (request: autocannon.Request, context: object) => {
            const body = takeBody();
            (context as { body?: string }).body = body;
            return { ...request, body };
          },
          onResponse: (status: number, _body: string, context: object) => {
            const { body } = context as { body?: string };
            if (status === 429 && body !== undefined) returned.push(body);
          },
        },
      ],
    }),
  };
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
    bodiesRanOut,
    ok,
    refused,
    other,
    errors,
    timeouts,
    okP50Ms: percentile(okMs, 50),
    okP99Ms: percentile(okMs, 99),
    refusedP50Ms: percentile(refusedMs, 50),
    refusedP99Ms: percentile(refusedMs, 99),
    refusedSendDelayP99Ms: Number.NaN,
    refusedAfterWriteP99Ms: Number.NaN,
  };
}

/** Open loop: `overallRate` requests a second, evenly spaced, on at most `connections` keep-alive sockets. */
async function paced(input: OverloadLoadInput): Promise<OverloadLoadResult> {
  const http = new PacedHttp({
    url: new URL(input.url),
    method: "POST",
    headers: input.headers,
    maxSockets: input.connections,
    timeoutMs: 10_000,
  });
  const shared = http.requestBytes(Buffer.from(input.body));
  const bytesOf = (i: number) => (input.bodies ? http.requestBytes(Buffer.from(input.bodies[i]!)) : shared);
  const started = performance.now();
  const measureFrom = started + input.warmupS * 1000;
  const endAt = started + input.durationS * 1000;
  const outcome = { ok: 0, refused: 0, errors: 0, timeouts: 0 };
  const other: Record<string, number> = {};
  const okMs: number[] = [];
  const refusedMs: number[] = [];
  const refusedSendDelayMs: number[] = [];
  const refusedAfterWriteMs: number[] = [];
  let pending = 0;
  let sent = 0;
  const fire = (scheduledAt: number, bytes: Buffer) => {
    pending += 1;
    const counts = scheduledAt >= measureFrom;
    http.send(bytes, scheduledAt, {
      done(status, ms, error, sendDelayMs = 0) {
        pending -= 1;
        if (!counts) return;
        if (error) {
          outcome.errors += 1;
          if (error === "timeout") outcome.timeouts += 1;
        } else if (status >= 200 && status < 300) {
          outcome.ok += 1;
          okMs.push(ms);
        } else if (status === 429 || status === 503) {
          outcome.refused += 1;
          refusedMs.push(ms);
          refusedSendDelayMs.push(sendDelayMs);
          refusedAfterWriteMs.push(ms - sendDelayMs);
        } else other[status] = (other[status] ?? 0) + 1;
      },
    });
  };
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const now = Math.min(performance.now(), endAt);
      const due = Math.min(Math.floor(((now - started) / 1000) * input.overallRate), input.bodies?.length ?? Infinity);
      for (; sent < due; sent++) fire(started + (sent / input.overallRate) * 1000, bytesOf(sent));
      if (now >= endAt) {
        clearInterval(tick);
        resolve();
      }
    }, 2);
  });
  // Answers to the last requests still count (their schedule was inside the window).
  const drainBy = performance.now() + 11_000;
  while (pending > 0 && performance.now() < drainBy) await new Promise((r) => setTimeout(r, 20));
  http.close();
  return {
    measuredS: (endAt - measureFrom) / 1000,
    bodiesRanOut: input.bodies !== undefined && sent >= input.bodies.length,
    ...outcome,
    other,
    okP50Ms: percentile(okMs, 50),
    okP99Ms: percentile(okMs, 99),
    refusedP50Ms: percentile(refusedMs, 50),
    refusedP99Ms: percentile(refusedMs, 99),
    refusedSendDelayP99Ms: percentile(refusedSendDelayMs, 99),
    refusedAfterWriteP99Ms: percentile(refusedAfterWriteMs, 99),
  };
}
