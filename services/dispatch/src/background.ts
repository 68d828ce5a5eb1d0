/**
 * What dispatch runs in the background on every replica: the timer poller (due waves and
 * expiries, missed assign deadlines, owed booking calls) and the durable consumer of
 * booking's events. Both are safe with many replicas: timers are claimed in Postgres, and the
 * consumer's durable shares the events among the replicas.
 */
import { BookingCreated, BookingStatusChanged } from "@weelo/contracts/grpc/weelo/booking/v1/events";
import { BookingStatus } from "@weelo/contracts/grpc/weelo/booking/v1/booking";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import { consumeWhenAvailable, type Bus, type EventMessage, type PendingConsumer } from "@weelo/bus";
import type { Logger } from "@weelo/log";
import type { DispatchService } from "./dispatch.service.js";

/**
 * One round of the timer poller (dispatch.module.ts runs it on platform.poll): every kind of due
 * work, a batch each; returns how much was claimed (more may be waiting when any was).
 */
export async function runDueTimers(
  service: Pick<DispatchService, "runDueWaves" | "runDueBookingCalls" | "runMissedDeadlines">,
): Promise<number> {
  const [waves, deadlines, bookingCalls] = await Promise.all([
    service.runDueWaves(20),
    service.runMissedDeadlines(50),
    service.runDueBookingCalls(50),
  ]);
  return waves + deadlines + bookingCalls;
}

/** The event type of a subject under booking's subject root: "<root>.created" → "created". */
function eventName(subject: string, root: string): string {
  return subject.startsWith(`${root}.`) ? subject.slice(root.length + 1) : "";
}

/**
 * Handles one booking event. Every handler is idempotent: a booking's events carry its
 * sequence, and dispatch applies an event only when it is newer than the last it applied.
 */
export function bookingEventHandler(service: DispatchService, bookingRoot: string, logger: Logger) {
  return async (msg: EventMessage): Promise<void> => {
    const envelope = EventEnvelope.decode(msg.data);
    const payload = envelope.payload?.value;
    if (!payload) return;
    const sequence = Number(envelope.sequence);
    switch (eventName(msg.subject, bookingRoot)) {
      case "created":
        return service.onBookingCreated(BookingCreated.decode(payload), sequence);
      case "reopened":
        return service.onBookingReopened(BookingStatusChanged.decode(payload), sequence);
      case "cancelled":
        return service.onBookingCancelled(BookingStatusChanged.decode(payload), sequence);
      case "expired":
        return service.onBookingCancelled(BookingStatusChanged.decode(payload), sequence, true);
      case "status_changed": {
        const change = BookingStatusChanged.decode(payload);
        return service.onBookingChanged(change, sequence, change.to === BookingStatus.BOOKING_STATUS_COMPLETED);
      }
      default:
        logger.debug({ subject: msg.subject }, "booking event dispatch does not use");
    }
  };
}

/**
 * Starts the durable consumer of booking's events, retrying in the background until
 * booking's stream exists (dispatch may start before booking has ever run).
 */
export function consumeBookingEvents(
  bus: Pick<Bus, "consume">,
  options: {
    stream: string;
    durable: string;
    bookingRoot: string;
    concurrency: number;
    handler: (msg: EventMessage) => Promise<void>;
    logger: Logger;
  },
): PendingConsumer {
  return consumeWhenAvailable(
    bus,
    {
      stream: options.stream,
      durable: options.durable,
      filterSubjects: [`${options.bookingRoot}.>`],
      handler: options.handler,
      concurrency: options.concurrency,
      maxDeliver: 20,
      ackWaitMs: 30_000,
      retryDelayMs: 500,
      onDeadLetter: (dead) =>
        options.logger.error(
          { subject: dead.subject, seq: dead.seq, reason: dead.reason },
          "a booking event could not be handled; given up",
        ),
    },
    options.logger,
  );
}
