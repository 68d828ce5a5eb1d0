/**
 * What a driver's stream is told as it opens, so an app that was offline (or lost a command
 * with a broker) catches up: first the last trip taken away from the driver, under its
 * original command id, unless it is the trip they are on again; then the trip they are on.
 * In that order an app drops the old trip before it takes the new one.
 */
import type { DriverCommand } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking";
import type { DriverNoticeRow } from "./tracking.table.js";
import { assignmentOf, type Trip } from "./trip-directory.js";
import type { TakenAwayNotice } from "./trip-feed.js";

/** The command that tells a driver a trip is no longer theirs, and why. */
export function takenAwayCommand(notice: TakenAwayNotice): DriverCommand {
  const detail = { bookingId: notice.bookingId, reason: notice.reason };
  return {
    commandId: notice.eventId,
    issuedAt: notice.issuedAt,
    kind: notice.kind === "cancelled" ? { $case: "cancelled", value: detail } : { $case: "reopened", value: detail },
  };
}

/** The kept notice as the feed first told it. */
export function noticeOfRow(row: DriverNoticeRow): TakenAwayNotice {
  return {
    kind: row.kind,
    bookingId: row.booking_id,
    reason: row.reason,
    eventId: row.command_id,
    issuedAt: row.issued_at,
  };
}

/** The commands a driver's opening stream gets, in order. `newId` names the repeated assignment. */
export function greetingCommands(
  active: Trip | undefined,
  lastTakenAway: DriverNoticeRow | undefined,
  newId: () => string,
  now: Date,
): DriverCommand[] {
  const commands: DriverCommand[] = [];
  if (lastTakenAway && lastTakenAway.booking_id !== active?.bookingId)
    commands.push(takenAwayCommand(noticeOfRow(lastTakenAway)));
  if (active) commands.push({ commandId: newId(), issuedAt: now, kind: assignmentOf(active) });
  return commands;
}
