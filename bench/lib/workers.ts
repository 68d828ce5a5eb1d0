/**
 * Load generators for measure scenarios, in CHILD processes (like the servers): a scenario
 * that drives thousands of streams from its own process would measure its own event loop.
 *
 * A worker is `node --import tsx <script>` with an IPC channel. It receives the `input` it
 * was started with as its first message, does its work, and sends back one result object
 * (`reportResult`); the parent collects the results of all workers.
 */
import { fork, type ChildProcess } from "node:child_process";
import { isAbsolute, resolve } from "node:path";
import { REPO_ROOT, tsxImportArgs } from "./paths.js";

export interface WorkerPool<Result> {
  /** One result per worker, in start order; rejects when a worker fails or exits without one. */
  results: Promise<Result[]>;
  /** Sends a message to every worker (e.g. "stop now"). */
  broadcast(message: unknown): void;
  /** Kills every worker still running. */
  kill(): void;
}

/** Starts `count` workers running `script` (repo-relative or absolute), each given `inputOf(i)`. */
export function startWorkers<Input, Result>(
  script: string,
  count: number,
  inputOf: (index: number) => Input,
  options: { env?: Record<string, string> } = {},
): WorkerPool<Result> {
  const path = isAbsolute(script) ? script : resolve(REPO_ROOT, script);
  const children: ChildProcess[] = [];
  const settled: Promise<Result>[] = [];
  for (let i = 0; i < count; i++) {
    const child = fork(path, [], {
      execArgv: tsxImportArgs(),
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    children.push(child);
    settled.push(
      new Promise<Result>((resolveResult, reject) => {
        let result: { ok: true; value: Result } | { ok: false; error: string } | undefined;
        child.on("message", (message: unknown) => {
          const m = message as { kind?: string; value?: Result; error?: string };
          if (m.kind === "result") result = { ok: true, value: m.value as Result };
          if (m.kind === "error") result = { ok: false, error: m.error ?? "unknown error" };
        });
        child.on("exit", (code, signal) => {
          if (result?.ok) resolveResult(result.value);
          else
            reject(
              new Error(
                `worker ${i} (${script}) ${result ? `failed: ${result.error}` : `exited (${signal ?? code}) without a result`}`,
              ),
            );
        });
      }),
    );
    child.send({ kind: "input", value: inputOf(i) });
  }
  return {
    results: Promise.all(settled),
    broadcast: (message) => {
      for (const child of children) if (child.connected) child.send(message as object);
    },
    kill: () => {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}

/** In a worker: the input the parent started it with. */
export function workerInput<Input>(): Promise<Input> {
  return new Promise((resolveInput) => {
    const onMessage = (message: unknown) => {
      const m = message as { kind?: string; value?: Input };
      if (m.kind !== "input") return;
      process.off("message", onMessage);
      resolveInput(m.value as Input);
    };
    process.on("message", onMessage);
  });
}

/** In a worker: runs `work` on the input, sends its result (or its error) to the parent, exits. */
export async function runWorker<Input, Result>(work: (input: Input) => Promise<Result>): Promise<void> {
  try {
    const value = await work(await workerInput<Input>());
    process.send?.({ kind: "result", value }, () => process.exit(0));
  } catch (error) {
    process.send?.({ kind: "error", error: (error as Error).stack ?? String(error) }, () => process.exit(1));
  }
}

/** Percentile (0–100) of a list of numbers, nearest-rank; NaN for an empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}
