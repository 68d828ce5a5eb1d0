/**
 * Keeps drivers' vehicle type and online state from fleet's `<root>.driver.availability`
 * events (core subscription: every replica sees every event; applying one twice is harmless).
 * An event older than the last applied one of the same driver (envelope sequence) is ignored.
 */
import type { Bus, Subscription } from "@weelo/bus";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import { DriverAvailabilityChanged } from "@weelo/contracts/grpc/weelo/fleet/v1/events";
import type { Logger } from "@weelo/log";
import type { DriverAvailability, PositionStore } from "./position-store.js";

/** What tests (or another feed) call directly. */
export interface AvailabilitySink {
  apply(driverId: string, availability: DriverAvailability, sequence?: number): Promise<void>;
}

export function availabilitySink(store: PositionStore): AvailabilitySink & { forget(): void } {
  const applied = new Map<string, number>();
  return {
    /** Forgets the sequences applied (the store lost what they wrote: see store-resync.ts). */
    forget() {
      applied.clear();
    },
    async apply(driverId, availability, sequence) {
      if (sequence !== undefined) {
        if ((applied.get(driverId) ?? 0) >= sequence) return;
        if (applied.size >= 200_000) applied.clear();
        applied.set(driverId, sequence);
      }
      await store.setAvailability(driverId, availability);
    },
  };
}

export function subscribeAvailability(
  bus: Bus,
  fleetSubjectRoot: string,
  sink: AvailabilitySink,
  logger: Logger,
): Subscription {
  return bus.subscribe(`${fleetSubjectRoot}.driver.availability`, async (msg) => {
    try {
      const envelope = EventEnvelope.decode(msg.data);
      if (!envelope.payload) return;
      const event = DriverAvailabilityChanged.decode(envelope.payload.value);
      await sink.apply(
        event.driverId,
        {
          online: event.online,
          vehicleType: event.vehicleType,
          vehicleId: event.vehicleId,
          transporterId: event.transporterId,
        },
        envelope.sequence,
      );
    } catch (error) {
      logger.warn({ err: error, subject: msg.subject }, "could not apply a driver availability event");
    }
  });
}
