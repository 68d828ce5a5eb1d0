/**
 * Fleet's side of a trip: booking's status events (BOOKING stream, durable FLEET_TRIPS_CONSUMER,
 * shared by replicas) set the assigned driver and vehicle ON_TRIP when the booking is ASSIGNED
 * and put them back when it ends (COMPLETED, CANCELLED, EXPIRED, reopened) or changes hands.
 * While ON_TRIP, fleet's rules refuse removing the driver and deleting, inactivating or
 * servicing the vehicle. Each event is applied once per booking sequence (trip-holds.rules.ts),
 * so redeliveries and late events change nothing.
 */
import { consumeWhenAvailable, type Bus, type BusMessage, type PendingConsumer } from "@weelo/bus";
import { BookingStatusChanged } from "@weelo/contracts/grpc/weelo/booking/v1/events";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import type { Logger } from "@weelo/log";
import { Counter, type Registry } from "prom-client";
import type { FleetDb } from "./fleet.repository.js";
import { applyBookingChange, type TripHoldOutcome } from "./trip-holds.repository.js";

const STATUS_CHANGED_TYPE = "weelo.booking.v1.BookingStatusChanged";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface TripStatusSettings {
  /** Booking's stream and subject root. */
  stream: string;
  subjectRoot: string;
  durable: string;
  /** Fleet's own subject root, for the availability event of a driver the trip's vehicle displaces. */
  fleetSubjectRoot: string;
}

/** Applies one message of booking's stream; anything but a status change is skipped. */
export async function applyBookingMessage(
  db: FleetDb,
  msg: Pick<BusMessage, "data">,
  fleetSubjectRoot: string,
): Promise<TripHoldOutcome | "skipped"> {
  const envelope = EventEnvelope.decode(msg.data);
  const typeUrl = envelope.payload?.typeUrl ?? "";
  if (!envelope.payload || typeUrl.slice(typeUrl.lastIndexOf("/") + 1) !== STATUS_CHANGED_TYPE) return "skipped";
  const change = BookingStatusChanged.decode(envelope.payload.value);
  const ids = [change.bookingId, change.driverId, change.vehicleId].filter(Boolean);
  if (!UUID.test(change.bookingId) || !ids.every((id) => UUID.test(id)) || envelope.sequence <= 0) return "skipped";
  return applyBookingChange(
    db,
    change.bookingId,
    { sequence: envelope.sequence, to: change.to, driverId: change.driverId, vehicleId: change.vehicleId },
    { subjectRoot: fleetSubjectRoot },
  );
}

export function consumeTripStatus(
  bus: Pick<Bus, "consume">,
  db: FleetDb,
  settings: TripStatusSettings,
  logger: Logger,
  registry: Registry,
): PendingConsumer {
  const handled = new Counter({
    name: "weelo_fleet_trip_events_total",
    help: "Booking events fleet's ON_TRIP consumer handled, by outcome (applied, stale: no newer than the last applied, skipped: not a status change).",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  return consumeWhenAvailable(
    bus,
    {
      stream: settings.stream,
      durable: settings.durable,
      filterSubjects: [`${settings.subjectRoot}.>`],
      handler: async (msg) => {
        const outcome = await applyBookingMessage(db, msg, settings.fleetSubjectRoot);
        handled.inc({ outcome });
        if (outcome === "stale") logger.debug({ subject: msg.subject }, "an older booking event; nothing to change");
      },
      concurrency: 8,
      maxDeliver: 20,
      ackWaitMs: 30_000,
      retryDelayMs: 500,
      onDeadLetter: (dead) =>
        logger.error(
          { subject: dead.subject, seq: dead.seq, reason: dead.reason },
          "a booking event could not be applied to its driver's and vehicle's ON_TRIP status; given up",
        ),
    },
    logger,
  );
}
