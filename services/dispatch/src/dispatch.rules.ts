/**
 * Dispatch's pure rules: the wave plan, who a wave reaches, what an acceptance may take, how
 * a failed booking call is retried, request validation. No I/O: unit-tested without a server.
 */
import { FailedPreconditionError, GrpcCode, InvalidArgumentError } from "@weelo/errors";
import { plainText } from "@weelo/formats";
import type { BroadcastRow, OfferStatus } from "./dispatch.table.js";
export { validateId, pageSize, encodePageToken, decodePageToken, pageOf } from "@weelo/formats";

export interface WavePlan {
  /** Radius of each wave, in metres, growing. */
  radiiM: readonly number[];
  /** Time from one wave to the next (and from the last to the expiry), in ms. */
  durationMs: number;
}

export function wavePlan(radiiKm: readonly number[], durationMs: number): WavePlan {
  return { radiiM: radiiKm.map((km) => km * 1000), durationMs };
}

/** How long one round of waves lasts, from its first wave to its expiry. */
export function roundLengthMs(plan: WavePlan): number {
  return plan.radiiM.length * plan.durationMs;
}

/** What the broadcast's timer means now: run wave `index` (from 0) with its radius, or expire. */
export type WaveStep = { kind: "wave"; index: number; radiusM: number; last: boolean };
export type DueStep = WaveStep | { kind: "expire" };

export function dueStep(plan: WavePlan, wavesDone: number): DueStep {
  if (wavesDone >= plan.radiiM.length) return { kind: "expire" };
  return {
    kind: "wave",
    index: wavesDone,
    radiusM: plan.radiiM[wavesDone]!,
    last: wavesDone === plan.radiiM.length - 1,
  };
}

/**
 * When a broadcast's first wave is due after a booking of its order arrives: at once when
 * every booking of the order is known, else after the gathering time (a late booking joins
 * the waves already running).
 */
export function firstWaveAt(knownBookings: number, vehicleCount: number, now: Date, gatherMs: number): Date {
  return knownBookings >= vehicleCount ? now : new Date(now.getTime() + gatherMs);
}

export interface Candidate {
  transporterId: string;
  /** Distance of the nearest live driver, or of the base, from the pickup (m). */
  distanceM: number;
}

/**
 * The transporters a wave offers the order to: live drivers' transporters and transporters
 * reached through their base, nearest first, once each, without anyone the order was already
 * offered to (`excluded`: open, accepted, declined), at most `max`.
 */
export function waveCandidates(
  sources: {
    nearbyDrivers: readonly { transporterId: string; distanceM: number }[];
    servingTransporters: readonly { transporterId: string; distanceM: number }[];
  },
  excluded: ReadonlySet<string>,
  max: number,
): Candidate[] {
  const best = new Map<string, number>();
  for (const c of [...sources.nearbyDrivers, ...sources.servingTransporters]) {
    if (!c.transporterId || excluded.has(c.transporterId)) continue;
    const known = best.get(c.transporterId);
    if (known === undefined || c.distanceM < known) best.set(c.transporterId, c.distanceM);
  }
  return [...best]
    .map(([transporterId, distanceM]) => ({ transporterId, distanceM }))
    .sort((a, b) => a.distanceM - b.distanceM || (a.transporterId < b.transporterId ? -1 : 1))
    .slice(0, max);
}

/** Offer statuses after which the order is never offered to the transporter again in any round. */
export const FINAL_FOR_TRANSPORTER: readonly OfferStatus[] = ["open", "accepted", "declined"];

/** A decline's optional reason (how long it may be is the contract's rule). */
export function validateDeclineReason(reason: string): string {
  return plainText(reason, "reason");
}

/** Operations' reason for a reopen or reassignment (its length is the contract's rule). */
export const validateReason = validateDeclineReason;

/**
 * Why an acceptance that matched no row failed, from a fresh look at the order: every truck
 * taken, fewer trucks open than asked, or the broadcast closed.
 */
export function acceptRefusal(
  broadcast: Pick<BroadcastRow, "status" | "open_trucks"> | undefined,
  requested: number,
): FailedPreconditionError {
  if (broadcast && broadcast.status === "open" && broadcast.open_trucks > 0 && broadcast.open_trucks < requested) {
    const open = broadcast.open_trucks;
    return new FailedPreconditionError(
      `only ${open} truck${open === 1 ? " is" : "s are"} still open on this order; ask for ${open} or fewer`,
      {
        reason: "NOT_ENOUGH_TRUCKS_OPEN",
        field: "vehicle_count",
      },
    );
  }
  if (broadcast && (broadcast.status === "expired" || broadcast.status === "cancelled")) {
    return new FailedPreconditionError("this order is no longer open: it was cancelled or expired", {
      reason: "OFFER_CLOSED",
    });
  }
  return new FailedPreconditionError("already taken: other transporters took every truck of this order", {
    reason: "ALREADY_TAKEN",
  });
}

/** Why an offer of the caller's could not be answered: its status says it. */
export function offerClosedRefusal(status: OfferStatus): FailedPreconditionError {
  switch (status) {
    case "accepted":
      return new FailedPreconditionError("you already accepted this offer", { reason: "OFFER_ALREADY_ACCEPTED" });
    case "declined":
      return new FailedPreconditionError("you declined this offer", { reason: "OFFER_DECLINED" });
    case "withdrawn":
      return new FailedPreconditionError("already taken: this offer was withdrawn", { reason: "ALREADY_TAKEN" });
    case "expired":
      return new FailedPreconditionError("this offer expired", { reason: "OFFER_CLOSED" });
    default:
      return new FailedPreconditionError("this offer is open", { reason: "OFFER_OPEN" });
  }
}

/** Delay before retry `attempt` (1, 2, …) of an owed booking call: doubling from `firstMs`, at most a minute. */
export function retryDelayMs(attempt: number, firstMs: number): number {
  return Math.min(60_000, firstMs * 2 ** Math.max(0, Math.min(attempt - 1, 16)));
}

/** gRPC codes of a booking call that will not succeed by retrying. */
const PERMANENT_CODES = new Set<number>([
  GrpcCode.INVALID_ARGUMENT,
  GrpcCode.NOT_FOUND,
  GrpcCode.FAILED_PRECONDITION,
  GrpcCode.PERMISSION_DENIED,
]);

export function isPermanentFailure(code: number | undefined): boolean {
  return code !== undefined && PERMANENT_CODES.has(code);
}

const HOUR_MS = 3_600_000;
/** The longest funnel window operations may ask for, in hours (7 days). */
export const MAX_FUNNEL_HOURS = 7 * 24;

/** A funnel window as whole UTC hours: `from` rounded down, `to` rounded up; INVALID_ARGUMENT when empty or too long. */
export function funnelWindow(from: Date, to: Date): { from: Date; to: Date } {
  const start = Math.floor(from.getTime() / HOUR_MS) * HOUR_MS;
  const end = Math.ceil(to.getTime() / HOUR_MS) * HOUR_MS;
  if (!(end > start)) throw new InvalidArgumentError("to", "to must be after from");
  if (end - start > MAX_FUNNEL_HOURS * HOUR_MS)
    throw new InvalidArgumentError("to", `the window is at most ${MAX_FUNNEL_HOURS / 24} days`);
  return { from: new Date(start), to: new Date(end) };
}
