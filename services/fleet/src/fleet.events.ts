/** Fleet's events: subjects, and the availability event written to the outbox with its change. */
import {
  AvailabilityChangeReason,
  DriverAvailabilityChanged,
  DriverRemoved,
} from "@weelo/contracts/grpc/weelo/fleet/v1/events";
import type { FleetTrx } from "./fleet.repository.js";
import type { DriverRow } from "./fleet.table.js";
import { enqueueEvent } from "@weelo/outbox";

/** The event type of availability changes, and its subject under the default subject root "fleet". */
export const DRIVER_AVAILABILITY_EVENT = "fleet.driver.availability";
export const DRIVER_AVAILABILITY_PAYLOAD_TYPE = "weelo.fleet.v1.DriverAvailabilityChanged";
/** The event type of driver removals (identity revokes the driver's sessions on it). */
export const DRIVER_REMOVED_EVENT = "fleet.driver.removed";
export const DRIVER_REMOVED_PAYLOAD_TYPE = "weelo.fleet.v1.DriverRemoved";

/** The subject of an event type under a subject root: "fleet.x.y" → "<root>.x.y". */
export function subjectFor(subjectRoot: string, eventType: string): string {
  return `${subjectRoot}${eventType.slice(eventType.indexOf("."))}`;
}

export type AvailabilityReason = "driver" | "vehicle_updated" | "vehicle_unavailable" | "driver_removed";

const REASONS: Record<AvailabilityReason, AvailabilityChangeReason> = {
  driver: AvailabilityChangeReason.AVAILABILITY_CHANGE_REASON_DRIVER,
  vehicle_updated: AvailabilityChangeReason.AVAILABILITY_CHANGE_REASON_VEHICLE_UPDATED,
  vehicle_unavailable: AvailabilityChangeReason.AVAILABILITY_CHANGE_REASON_VEHICLE_UNAVAILABLE,
  driver_removed: AvailabilityChangeReason.AVAILABILITY_CHANGE_REASON_DRIVER_REMOVED,
};

/**
 * Writes a DriverAvailabilityChanged for a driver row just changed in this transaction; the
 * row's event_seq (incremented by the same change) is the envelope's sequence.
 */
export async function recordAvailabilityChange(
  trx: FleetTrx,
  subjectRoot: string,
  driver: DriverRow,
  change: { vehicleId: string; vehicleType: string; online: boolean; reason: AvailabilityReason },
): Promise<void> {
  const occurredAt = driver.updated_at;
  const payload = DriverAvailabilityChanged.encode({
    driverId: driver.id,
    transporterId: driver.transporter_id,
    vehicleId: change.vehicleId,
    vehicleType: change.vehicleType,
    online: change.online,
    occurredAt,
    reason: REASONS[change.reason],
  }).finish();
  await enqueueEvent(trx, {
    subject: subjectFor(subjectRoot, DRIVER_AVAILABILITY_EVENT),
    type: DRIVER_AVAILABILITY_EVENT,
    subjectId: driver.id,
    sequence: Number(driver.event_seq),
    occurredAt,
    payloadType: DRIVER_AVAILABILITY_PAYLOAD_TYPE,
    payload,
  });
}

/**
 * Writes a DriverRemoved for a driver row just removed in this transaction, naming the
 * identity account that logs in with the phone (if any), so identity revokes its sessions.
 */
export async function recordDriverRemoved(
  trx: FleetTrx,
  subjectRoot: string,
  driver: DriverRow,
  userId: string | undefined,
): Promise<void> {
  const occurredAt = driver.removed_at ?? driver.updated_at;
  const payload = DriverRemoved.encode({
    driverId: driver.id,
    transporterId: driver.transporter_id,
    userId: userId ?? "",
    phone: driver.phone,
    occurredAt,
  }).finish();
  await enqueueEvent(trx, {
    subject: subjectFor(subjectRoot, DRIVER_REMOVED_EVENT),
    type: DRIVER_REMOVED_EVENT,
    subjectId: driver.id,
    sequence: 1,
    occurredAt,
    payloadType: DRIVER_REMOVED_PAYLOAD_TYPE,
    payload,
  });
}
