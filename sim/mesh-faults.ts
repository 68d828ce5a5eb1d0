/**
 * Fault mode of the mesh (`--mesh --faults`): while customers book, on private Postgres, Redis
 * and NATS servers of the run's own: both dispatch replicas down past a wave (work falls due), a
 * Postgres restart, NATS down with booking SIGKILLed meanwhile (outbox rows waiting), a Redis
 * restart; then SIGKILL of each service in turn (one of dispatch's two replicas, then booking,
 * tracking, identity, fleet, pricing, notification, the gateway), the harness restarting it at
 * once as an orchestrator would; then 2 s of latency and a 10 s partition between dispatch and
 * booking. Each fault gets its figures from what the simulated apps saw in its window (from the
 * fault until the next): when the process answered /health/ready again, when full service was
 * back (ready, no call failing any more, location acknowledgements flowing), how many call
 * attempts failed and how many calls needed a retry, and the p99 of calls in the minute after
 * (or what is left of the window, as the table says). After each fault's window, no dispatch
 * work or outbox row may still be overdue (work_due).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { World } from "./actors.js";
import type { CallLog } from "./api.js";
import type { MeshSystem } from "./mesh.js";
import type { PrivateServers, ServerKind } from "./private-servers.js";
import { describeWork, workDue } from "./work-due.js";
import type { FaultRecord } from "./simulation.js";
import { formatMs, percentile } from "./stats.js";

/**
 * What gets killed, in order (the issue's list, and the ops console's service since it joined the
 * deployment); "dispatch" is the first of its two replicas.
 */
export const MESH_FAULT_TARGETS = [
  "dispatch",
  "booking",
  "tracking",
  "identity",
  "fleet",
  "pricing",
  "notification",
  "ops",
  "gateway",
] as const;

/** The link the fault proxy sits on, and its faults after the kills: added latency, then a partition. */
export const PROXIED_LINK = { caller: "dispatch", upstream: "booking" } as const;
const LINK_FAULTS = [
  { kind: "latency", ms: 2000, forMs: 8000 },
  { kind: "partition", forMs: 10_000 },
] as const;

/** The goal for a service kill: full service again within this, ms (reported, not enforced: machines differ). */
const KILL_RECOVERY_GOAL_MS = 10_000;
/** The goal for a Postgres restart. */
const POSTGRES_RECOVERY_GOAL_MS = 30_000;

/**
 * Faults after the kills, on the run's private servers and with work due: both dispatch replicas
 * down past a wave (waves, assignment deadlines and booking calls fall due while nobody runs
 * them), a Postgres restart, NATS down with booking SIGKILLed meanwhile (outbox rows waiting for a
 * broker and a new process), a Redis restart.
 */
const EXTRA_STEPS = 4;

/** Work still overdue by this much once a fault has settled is work a restart lost (the work_due invariant). */
const OVERDUE_S = 20;

/** A gap in location acknowledgements longer than this counts as the points stream being down. */
const POINTS_STALL_MS = 2500;

/**
 * When the first fault comes, how far apart they are, and how long at least a fault's window
 * runs after the process is ready again (or the link healed): the figures of recovery and of
 * latency after it come from that stretch.
 */
function spacing(profile: string): { leadMs: number; gapMs: number; settleMs: number } {
  return profile === "short"
    ? { leadMs: 8000, gapMs: 9000, settleMs: 6000 }
    : { leadMs: 20_000, gapMs: 40_000, settleMs: 20_000 };
}

/**
 * The booking window the faults need: the lead, a gap per kill, each link fault's length and
 * settling time, and as much again to spare (restarts on a busy machine push the faults later),
 * so that the link faults, which come last, still meet orders being placed.
 */
export function meshFaultWindowMs(profile: string): number {
  const { leadMs, gapMs, settleMs } = spacing(profile);
  const links = LINK_FAULTS.reduce((sum, fault) => sum + fault.forMs + settleMs, 0);
  return leadMs + (MESH_FAULT_TARGETS.length + EXTRA_STEPS) * gapMs + links + 2 * settleMs;
}

interface Injected {
  what: string;
  at: number;
  /** When the killed process was ready again, or the link healed. */
  readyAt: number | null;
  /** Recovery is timed from here: the kill, or the heal of a link fault. */
  recoveryFrom: number;
  error?: string;
  note?: string;
  /** A Postgres restart (its own recovery goal). */
  postgres?: boolean;
}

export interface FaultFigures {
  fullServiceAfterMs: number | null;
  failedAttempts: number;
  retriedCalls: number;
  gaveUp: number;
  pointsStallMs: number;
  p99AfterMs: number | null;
  p99WindowS: number;
}

/**
 * The figures of a fault injected at `at` whose window ends at `end`, from the call log and the
 * samples of acknowledged points ([time, running count]). Full service is back at the latest of:
 * the restarted process ready; the first successful call after the last transient failure seen
 * in the window; the end of the last stall of acknowledgements longer than POINTS_STALL_MS.
 */
export function faultFigures(
  log: Pick<CallLog, "calls" | "retryTimes">,
  acks: readonly (readonly [number, number])[],
  at: number,
  readyAt: number | null,
  end: number,
  recoveryFrom = at,
): FaultFigures {
  const inWindow = (t: number) => t >= at && t < end;
  const retryFailures = log.retryTimes.filter(inWindow);
  const givenUp = log.calls.filter((c) => c.outcome === "failed" && inWindow(c.endedAt));
  const lastFailure = Math.max(-Infinity, ...retryFailures, ...givenUp.map((c) => c.endedAt));
  let recoveredAt: number | null = readyAt;
  if (recoveredAt !== null && Number.isFinite(lastFailure)) {
    const firstSuccess = log.calls.find((c) => c.outcome === "ok" && c.endedAt > lastFailure);
    recoveredAt = firstSuccess ? Math.max(recoveredAt, firstSuccess.endedAt) : null;
  }
  // Stalls of the acknowledgements that overlap the window.
  let longestStall = 0;
  let lastStallEnd = -Infinity;
  let changedAt = at;
  let count = acks.find(([t]) => t >= at)?.[1] ?? 0;
  for (const [t, acked] of acks) {
    if (t < at) continue;
    if (t >= end) break;
    if (acked !== count) {
      const stall = t - changedAt;
      longestStall = Math.max(longestStall, stall);
      if (stall > POINTS_STALL_MS) lastStallEnd = t;
      count = acked;
      changedAt = t;
    }
  }
  const openStall = Math.min(end, acks.at(-1)?.[0] ?? end) - changedAt;
  longestStall = Math.max(longestStall, openStall);
  if (openStall > POINTS_STALL_MS) recoveredAt = null;
  const fullServiceAt = recoveredAt === null ? null : Math.max(recoveredAt, lastStallEnd);
  const from = fullServiceAt ?? end;
  const until = Math.min(from + 60_000, end);
  const after = log.calls
    .filter((c) => c.outcome === "ok" && c.startedAt >= from && c.startedAt < until)
    .map((c) => c.endedAt - c.startedAt);
  return {
    fullServiceAfterMs: fullServiceAt === null ? null : Math.max(0, fullServiceAt - recoveryFrom),
    failedAttempts: retryFailures.length + givenUp.length,
    retriedCalls: log.calls.filter((c) => c.attempts > 1 && c.endedAt >= at && c.startedAt < end).length,
    gaveUp: givenUp.length,
    pointsStallMs: longestStall,
    p99AfterMs: percentile(after, 0.99),
    p99WindowS: Math.max(0, Math.round((until - from) / 1000)),
  };
}

/** Dispatch's calls to booking so far, by result (ok, retry, refused), summed over its replicas' /metrics. */
async function bookingCalls(mesh: MeshSystem): Promise<Record<string, number>> {
  const totals: Record<string, number> = {};
  for (const proc of mesh.processes.filter((p) => p.service === PROXIED_LINK.caller)) {
    const text = await fetch(`${proc.adminUrl}/metrics`, { signal: AbortSignal.timeout(2000) })
      .then((r) => r.text())
      .catch(() => "");
    for (const [, result, value] of text.matchAll(
      /^weelo_dispatch_booking_calls_total\{[^}]*result="(\w+)"[^}]*\} (\d+)/gm,
    ))
      totals[result!] = (totals[result!] ?? 0) + Number(value);
  }
  return totals;
}

export async function injectMeshFaults(
  world: World,
  runStart: number,
  plan: { mesh: MeshSystem; profile: string; servers?: PrivateServers; waveMs: number },
): Promise<FaultRecord[]> {
  const { mesh, servers } = plan;
  const due = (lateS = 0) => workDue(mesh.databaseUrl, mesh.schemaPrefix, lateS);
  const { leadMs, gapMs, settleMs } = spacing(plan.profile);
  const acks: [number, number][] = [];
  const sampler = setInterval(() => acks.push([Date.now(), world.ledger.pointsAcked]), 100);
  const injected: Injected[] = [];
  const link = `${PROXIED_LINK.caller}→${PROXIED_LINK.upstream}`;
  /** A fault of a private server: `act` does it and resolves once the server (and any process it took) is back. */
  const serverStep =
    (kind: ServerKind, what: string, act: () => Promise<string | undefined>) =>
    async (at: number): Promise<Injected> => {
      try {
        const note = await act();
        return {
          what,
          at,
          readyAt: Date.now(),
          recoveryFrom: at,
          postgres: kind === "postgres",
          ...(note ? { note } : {}),
        };
      } catch (error) {
        return { what, at, readyAt: null, recoveryFrom: at, error: (error as Error).message };
      }
    };
  /** After a fault's window: work overdue by OVERDUE_S is work the restart lost. */
  const checkOverdue = async (fault: Injected) => {
    const overdue = await due(OVERDUE_S).catch((error: Error) => {
      world.notes.push(`mesh faults: the overdue work after "${fault.what}" could not be read: ${error.message}`);
      return {};
    });
    if (Object.keys(overdue).length > 0)
      world.violations.push({
        invariant: "work_due",
        message: `after "${fault.what}" had settled, still overdue by more than ${OVERDUE_S} s: ${describeWork(overdue)}`,
      });
  };
  const proxy = mesh.proxies.get(link);
  const steps = [
    // The faults with work due and the servers' restarts first: they need orders being placed, and a busy
    // machine stretches the schedule past the booking window; then each service's kill, then the link.
    // Both dispatch replicas down past a wave: the work that fell due meanwhile is run by the new processes.
    async (at: number): Promise<Injected> => {
      const ids = mesh.processes.filter((p) => p.service === "dispatch").map((p) => p.id);
      const downMs = plan.waveMs + 1000;
      const what = `SIGKILL of both dispatch replicas, down ${formatMs(downMs)} (work falls due)`;
      try {
        await Promise.all(ids.map((id) => mesh.kill(id)));
        await sleep(downMs);
        const waiting = await due().catch((error: Error) => ({ [`unreadable: ${error.message}`]: 0 }));
        await Promise.all(ids.map((id) => mesh.start(id)));
        return {
          what,
          at,
          readyAt: Date.now(),
          recoveryFrom: at,
          note: `due at the restart: ${describeWork(waiting)}`,
        };
      } catch (error) {
        return { what, at, readyAt: null, recoveryFrom: at, error: (error as Error).message };
      }
    },
    ...(servers
      ? [
          serverStep("postgres", "restart of Postgres (pg_ctl restart -m fast)", async () => {
            await servers.restart("postgres", 0);
            return undefined;
          }),
          serverStep("nats", "NATS down 3 s, booking SIGKILLed meanwhile (outbox rows waiting)", async () => {
            await servers.stopServer("nats");
            await sleep(1500);
            await mesh.kill("booking");
            await sleep(1500);
            const waiting = await due().catch(() => ({}));
            await servers.startServer("nats");
            await mesh.start("booking");
            return `waiting at the restart: ${describeWork(waiting)}`;
          }),
          serverStep("redis", "restart of Redis (down 2 s, its keys lost)", async () => {
            await servers.restart("redis", 2000);
            return undefined;
          }),
        ]
      : []),
    ...MESH_FAULT_TARGETS.map((target) => async (at: number): Promise<Injected> => {
      const replicas = mesh.processes.filter((p) => p.service === target).length;
      const what = `SIGKILL ${target}${replicas > 1 ? ` (1 of ${replicas} replicas)` : ""}`;
      try {
        const { readyAfterMs } = await mesh.killAndRestart(target);
        return { what, at, readyAt: at + readyAfterMs, recoveryFrom: at };
      } catch (error) {
        return { what, at, readyAt: null, recoveryFrom: at, error: (error as Error).message };
      }
    }),
    ...(proxy
      ? LINK_FAULTS.map((fault) => async (at: number): Promise<Injected> => {
          const before = await bookingCalls(plan.mesh);
          proxy.set(fault.kind === "latency" ? { kind: "latency", ms: fault.ms } : { kind: "partition" });
          await sleep(fault.forMs);
          proxy.set({ kind: "pass" });
          const healed = Date.now();
          const during = await bookingCalls(plan.mesh);
          const calls = Object.entries(during)
            .map(([result, n]) => `${n - (before[result] ?? 0)} ${result}`)
            .join(", ");
          const what =
            fault.kind === "latency"
              ? `${fault.ms / 1000} s latency ${link} for ${fault.forMs / 1000} s`
              : `partition ${link} for ${fault.forMs / 1000} s`;
          return {
            what,
            at,
            readyAt: healed,
            recoveryFrom: healed,
            note: `recovery timed from the heal; dispatch's booking calls meanwhile: ${calls || "none"}`,
          };
        })
      : []),
  ];
  try {
    for (const [i, step] of steps.entries()) {
      // On the schedule, but never before the previous fault has had its settling time.
      const previous = injected.at(-1);
      const settled = previous ? (previous.readyAt ?? Date.now()) + settleMs : 0;
      const wait = Math.max(runStart + leadMs + i * gapMs, settled) - Date.now();
      if (wait > 0) await sleep(wait, undefined, { signal: world.closing }).catch(() => undefined);
      if (previous) await checkOverdue(previous);
      if (world.closing.aborted) break;
      injected.push(await step(Date.now()));
    }
    // The last fault's window: one gap, and its settling time, as the others had.
    const last = injected.at(-1);
    if (last) {
      const wait = Math.max(last.at + gapMs, (last.readyAt ?? Date.now()) + settleMs) - Date.now();
      if (wait > 0) await sleep(wait, undefined, { signal: world.closing }).catch(() => undefined);
      await checkOverdue(last);
    }
  } finally {
    clearInterval(sampler);
  }
  const log = world.gateway.log;
  const first = injected[0];
  if (first) {
    const before = log.calls
      .filter((c) => c.outcome === "ok" && c.startedAt >= runStart && c.endedAt < first.at)
      .map((c) => c.endedAt - c.startedAt);
    world.notes.push(
      `mesh faults: before the first fault, p99 of ${before.length} calls ${formatMs(percentile(before, 0.99))}`,
    );
  }
  const records: FaultRecord[] = injected.map((fault, i) => {
    const end = injected[i + 1]?.at ?? Date.now();
    const figures = faultFigures(log, acks, fault.at, fault.readyAt, end, fault.recoveryFrom);
    return {
      what: fault.what,
      atS: Math.round((fault.at - world.ledger.startedAt) / 1000),
      downMs: 0,
      readyAfterMs: fault.readyAt === null ? null : fault.readyAt - fault.at,
      pointsFlowAfterMs: null,
      ...figures,
      ...(fault.error ? { note: `failed: ${fault.error}` } : fault.note ? { note: fault.note } : {}),
    };
  });
  const kills = records.filter((r) => r.what.startsWith("SIGKILL"));
  const met = kills.filter((r) => r.fullServiceAfterMs != null && r.fullServiceAfterMs < KILL_RECOVERY_GOAL_MS);
  world.notes.push(
    `mesh faults: full service within ${KILL_RECOVERY_GOAL_MS / 1000} s of a kill (the goal) for ${met.length} of ${kills.length} kills`,
  );
  for (const [i, fault] of injected.entries()) {
    const full = records[i]!.fullServiceAfterMs;
    if (fault.postgres)
      world.notes.push(
        `mesh faults: full service ${formatMs(full ?? null)} after the Postgres restart (goal ${POSTGRES_RECOVERY_GOAL_MS / 1000} s)`,
      );
  }
  for (const crash of mesh.crashes)
    world.notes.push(
      `mesh faults: ${crash.id} exited unasked at ${Math.round((crash.at - world.ledger.startedAt) / 1000)} s (${crash.signal ?? `code ${crash.code}`}) and was started again`,
    );
  return records;
}
