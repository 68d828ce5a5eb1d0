/**
 * What a driver's stream is told as it opens, so an app that was offline (or lost a command
 * with a broker) catches up: first the last trip taken away from the driver, unless it is the
 * trip they are on again; then the trip they are on. Each under the id it had when first sent,
 * so an app that heard it already can ignore it. In that order an app drops the old trip
 * before it takes the new one.
 */
import { createHash } from "node:crypto";
import type { DriverCommand } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking";
import { v7 as uuidv7 } from "uuid";
import { assignmentOf, type Trip } from "./trip-directory.js";
import type { TakenAwayNotice } from "./driver-notices.repository.js";

/** The command that tells a driver a trip is no longer theirs, and why. */
export function takenAwayCommand(notice: TakenAwayNotice): DriverCommand {
  const detail = { bookingId: notice.bookingId, reason: notice.reason };
  return {
    commandId: notice.eventId,
    issuedAt: notice.issuedAt,
    kind: notice.kind === "cancelled" ? { $case: "cancelled", value: detail } : { $case: "reopened", value: detail },
  };
}

/**
 * The command that gives a driver their trip. Its id is made from the trip (booking, driver, when
 * the driver's trip began): the live command and every repeat on a new stream share it, so an
 * app can drop what it heard already, and a trip taken away and given back gets a new one.
 */
export function assignmentCommand(trip: Trip): DriverCommand {
  const random = createHash("sha256").update(`${trip.bookingId}/${trip.driverId}`).digest().subarray(0, 16);
  return {
    commandId: uuidv7({ msecs: trip.activeSince, random }),
    issuedAt: new Date(trip.activeSince),
    kind: assignmentOf(trip),
  };
}

/** The commands a driver's opening stream gets, in order. */
export function greetingCommands(
  active: Trip | undefined,
  lastTakenAway: TakenAwayNotice | undefined,
): DriverCommand[] {
  const commands: DriverCommand[] = [];
  if (lastTakenAway && lastTakenAway.bookingId !== active?.bookingId) commands.push(takenAwayCommand(lastTakenAway));
  if (active) commands.push(assignmentCommand(active));
  return commands;
}
