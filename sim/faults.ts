/**
 * Fault mode: while customers book, restart the system's process (the all-in-one child of
 * `--start`), the NATS server and the Redis server, one at a time, spread over the booking
 * window; time how long the system took to answer its readiness check again and to
 * acknowledge location points again. The clients reconnect on their own.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { World } from "./actors.js";
import type { FaultRecord } from "./simulation.js";
import { LOCAL_SERVERS, restartLocalServer, waitReady, type SystemChild } from "./system.js";

export type FaultKind = "service" | "nats" | "redis";

export interface FaultPlan {
  kinds: FaultKind[];
  /** How long each thing stays down, ms. */
  downMs: number;
  url: string;
  child: SystemChild | undefined;
}

/** Ms until the first location point is acknowledged after `since`, polling the ledger (at most timeoutMs). */
async function pointsFlowAgain(
  world: World,
  since: number,
  ackedBefore: number,
  timeoutMs: number,
): Promise<number | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (world.ledger.pointsAcked > ackedBefore) return Date.now() - since;
    await sleep(50);
  }
  return null;
}

/** Watches the acknowledgements: the longest stretch without any, while it runs. */
function stallMeter(world: World): { stop(): number } {
  let last = world.ledger.pointsAcked;
  let lastChange = Date.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = Date.now();
    if (world.ledger.pointsAcked !== last) {
      last = world.ledger.pointsAcked;
      lastChange = now;
    }
    longest = Math.max(longest, now - lastChange);
  }, 50);
  return {
    stop() {
      clearInterval(timer);
      return longest;
    },
  };
}

/** Runs the planned faults at even spacing within the first 70% of the booking window. */
export async function injectFaults(world: World, runStart: number, plan: FaultPlan): Promise<FaultRecord[]> {
  const records: FaultRecord[] = [];
  const window = world.config.bookingWindowMs;
  for (const [i, kind] of plan.kinds.entries()) {
    const at = runStart + Math.round((window * 0.7 * (i + 1)) / (plan.kinds.length + 1));
    const wait = at - Date.now();
    if (wait > 0) await sleep(wait, undefined, { signal: world.closing }).catch(() => undefined);
    if (world.closing.aborted) break;
    const atS = Math.round((Date.now() - world.ledger.startedAt) / 1000);
    const started = Date.now();
    try {
      if (kind === "service") {
        if (!plan.child) {
          records.push({
            what: "restart of the system's process",
            atS,
            downMs: 0,
            readyAfterMs: null,
            pointsFlowAfterMs: null,
            note: "skipped: only with --start",
          });
          continue;
        }
        const ackedBefore = world.ledger.pointsAcked;
        const { readyAfterMs } = await plan.child.restart(plan.downMs);
        // Points acknowledged by the old process while it drained do not count: wait for new ones.
        const flow = await pointsFlowAgain(world, started, Math.max(ackedBefore, world.ledger.pointsAcked), 60_000);
        records.push({
          what: "restart of the all-in-one process (SIGTERM, graceful)",
          atS,
          downMs: plan.downMs,
          readyAfterMs,
          pointsFlowAfterMs: flow,
        });
      } else {
        const server = LOCAL_SERVERS[kind];
        const stall = stallMeter(world);
        await restartLocalServer(server, plan.downMs);
        await waitReady(plan.url, 60_000);
        const readyAfterMs = Date.now() - started;
        // Points may keep flowing through such a restart: the figure is the longest stretch without an ack.
        await pointsFlowAgain(world, started, world.ledger.pointsAcked, 60_000);
        await sleep(3000);
        records.push({
          what: `restart of the ${server.name} (127.0.0.1:${server.port})`,
          atS,
          downMs: plan.downMs,
          readyAfterMs,
          pointsFlowAfterMs: stall.stop(),
          note: "points: longest stretch without an ack",
        });
      }
    } catch (error) {
      records.push({
        what: `restart of ${kind}`,
        atS,
        downMs: plan.downMs,
        readyAfterMs: null,
        pointsFlowAfterMs: null,
        note: `failed: ${(error as Error).message}`,
      });
    }
  }
  return records;
}
