/**
 * The ops service's rules as plain functions: the audit's words and hashes, the funnel's
 * window and how the two owners' hours are merged, and the health verdicts. No I/O here.
 */
import { createHash } from "node:crypto";
import { AuditAction, AuditOutcome, type FunnelHour } from "@weelo/contracts/grpc/weelo/ops/v1/ops";
import { InvalidArgumentError } from "@weelo/errors";
import { plainText } from "@weelo/formats";
import type { AuditActionWord, AuditOutcomeWord } from "./ops.table.js";

export const HOUR_MS = 3_600_000;
/** The funnel's default window: the last 24 hours. */
export const DEFAULT_FUNNEL_HOURS = 24;
/** The funnel's longest window: 7 days. */
export const MAX_FUNNEL_HOURS = 7 * 24;

/** Why an intervention is made: plain text, not blank (1 to 500 characters is the contract's rule). */
export function auditReason(reason: string): string {
  const text = plainText(reason, "reason").trim();
  if (text === "") throw new InvalidArgumentError("reason", "reason must not be blank", { reason: "TEXT_LENGTH" });
  return text;
}

/** What was asked, as a hash: a replay of a retry key must ask the same, or the key was reused. */
export function requestHash(action: AuditActionWord, targetId: string, reason: string, ...args: string[]): string {
  return createHash("sha256")
    .update(JSON.stringify([action, targetId, reason, ...args]))
    .digest("base64url");
}

const ACTIONS: Record<AuditActionWord, AuditAction> = {
  cancel_booking: AuditAction.AUDIT_ACTION_CANCEL_BOOKING,
  reopen_booking: AuditAction.AUDIT_ACTION_REOPEN_BOOKING,
  reassign_driver: AuditAction.AUDIT_ACTION_REASSIGN_DRIVER,
  block_user: AuditAction.AUDIT_ACTION_BLOCK_USER,
  unblock_user: AuditAction.AUDIT_ACTION_UNBLOCK_USER,
};

export const actionToProto = (action: AuditActionWord): AuditAction => ACTIONS[action];

const OUTCOMES: Record<AuditOutcomeWord, AuditOutcome> = {
  pending: AuditOutcome.AUDIT_OUTCOME_PENDING,
  succeeded: AuditOutcome.AUDIT_OUTCOME_SUCCEEDED,
  failed: AuditOutcome.AUDIT_OUTCOME_FAILED,
};

export const outcomeToProto = (outcome: AuditOutcomeWord): AuditOutcome => OUTCOMES[outcome];

/**
 * The funnel's window in whole hours: `from` rounded down to its hour (default 24 hours before
 * `to`), `to` rounded up (default now); empty or longer than 7 days is refused.
 */
export function funnelWindow(from: Date | undefined, to: Date | undefined, now: Date): { from: Date; to: Date } {
  const end = Math.ceil((to ?? now).getTime() / HOUR_MS) * HOUR_MS;
  const start = Math.floor((from?.getTime() ?? end - DEFAULT_FUNNEL_HOURS * HOUR_MS) / HOUR_MS) * HOUR_MS;
  if (start >= end) throw new InvalidArgumentError("from", "from must be before to");
  if (end - start > MAX_FUNNEL_HOURS * HOUR_MS)
    throw new InvalidArgumentError("to", `the window is at most ${MAX_FUNNEL_HOURS} hours (7 days)`);
  return { from: new Date(start), to: new Date(end) };
}

export interface BookingSideHour {
  hourStart?: Date | undefined;
  ordersCreated: number;
  bookingsCreated: number;
  assigned: number;
  completed: number;
  expired: number;
  cancelled: number;
}

export interface DispatchSideHour {
  hourStart?: Date | undefined;
  waves: number;
  offers: number;
  accepted: number;
  offersExpired: number;
}

/**
 * One row per hour of the window, oldest first, hours with nothing included: booking's counts and
 * dispatch's, matched by the start of their hour (rows outside the window are left out).
 */
export function mergeFunnel(
  window: { from: Date; to: Date },
  bookingHours: readonly BookingSideHour[],
  dispatchHours: readonly DispatchSideHour[],
): FunnelHour[] {
  const rows = new Map<number, FunnelHour>();
  for (let t = window.from.getTime(); t < window.to.getTime(); t += HOUR_MS) {
    rows.set(t, {
      hourStart: new Date(t),
      orders: 0,
      bookings: 0,
      waves: 0,
      offers: 0,
      accepted: 0,
      assigned: 0,
      completed: 0,
      offersExpired: 0,
      expired: 0,
      cancelled: 0,
    });
  }
  const rowOf = (hourStart: Date | undefined) =>
    hourStart ? rows.get(Math.floor(hourStart.getTime() / HOUR_MS) * HOUR_MS) : undefined;
  for (const hour of bookingHours) {
    const row = rowOf(hour.hourStart);
    if (!row) continue;
    row.orders += hour.ordersCreated;
    row.bookings += hour.bookingsCreated;
    row.assigned += hour.assigned;
    row.completed += hour.completed;
    row.expired += hour.expired;
    row.cancelled += hour.cancelled;
  }
  for (const hour of dispatchHours) {
    const row = rowOf(hour.hourStart);
    if (!row) continue;
    row.waves += hour.waves;
    row.offers += hour.offers;
    row.accepted += hour.accepted;
    row.offersExpired += hour.offersExpired;
  }
  return [...rows.values()];
}

/** A target read from an owner as JSON for the audit trail, or null when there is nothing. */
export function auditJson(toJson: () => unknown): unknown {
  const value = toJson();
  return value === undefined ? null : value;
}

/** The message of an owner's error as the audit keeps it (one line, bounded). */
export function errorText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const reason = (error as { reason?: unknown }).reason;
  const line = typeof reason === "string" && reason !== "" ? `${reason}: ${message}` : message;
  return line.replace(/\s+/g, " ").slice(0, 1000);
}
