/**
 * Feeds the trips from booking's events, for any number of tracking replicas:
 * - one durable JetStream consumer shared by every replica (TRIPS_CONSUMER) reads
 *   booking.created / status_changed / cancelled / reopened / reassigned and writes the trips table with
 *   conditional upserts (ordered by the booking's sequence, so redelivery and overtaking are
 *   harmless), then announces the booking id on core NATS `<root>.trip.changed`;
 * - every replica subscribes to that subject and re-reads the row into its TripDirectory;
 * - every replica reads all active trips at start and every TRIP_RELOAD_S, so a missed
 *   announcement (core NATS is at most once) heals by itself.
 * The hot path (TripDirectory.activeOf per point) never touches the database.
 */
import { BookingStatus, bookingStatusToJSON } from "@weelo/contracts/grpc/weelo/booking/v1/booking";
import { BookingCreated, BookingStatusChanged } from "@weelo/contracts/grpc/weelo/booking/v1/events";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import { consumeWhenAvailable, type Bus, type EventMessage, type PendingConsumer, type Subscription } from "@weelo/bus";
import type { Logger } from "@weelo/log";
import { startPolling, type Polling } from "@weelo/runtime/polling";
import type { Kysely, Transaction } from "kysely";
import type { TrackingDatabase, TripRow } from "./tracking.table.js";
import { tripFromRow, type Trip, type TripDirectory } from "./trip-directory.js";
import { activeTrips, findTrip, recordBookingOpened, recordBookingStatus } from "./trips.repository.js";
import { recordDriverNotice, type TakenAwayNotice } from "./driver-notices.repository.js";

export interface TripFeedOptions {
  db: Kysely<TrackingDatabase>;
  bus: Bus;
  directory: TripDirectory;
  logger: Logger;
  bookingStream: string;
  bookingSubjectRoot: string;
  durable: string;
  trackingSubjectRoot: string;
  reloadMs: number;
  /**
   * Tells a driver about a trip (a command on their stream, on whichever replica holds it):
   * assigned to them, or cancelled or taken away while they were on it. Called once per event:
   * a redelivered event changes no row and tells no one again. Driven by booking's durable
   * events, so a broker restart delays the command rather than losing it.
   */
  tellDriver?: (driverId: string, notice: DriverNotice) => void;
  now?: () => number;
}

/** What a driver is told about a trip (see driver-greeting.ts for the commands and their ids). */
export type DriverNotice =
  | TakenAwayNotice
  /** A trip assigned to the driver, with where to go. */
  | { kind: "assigned"; trip: Trip };

/** Statuses during which a driver is on the trip. */
const ON_TRIP: ReadonlySet<BookingStatus> = new Set([
  BookingStatus.BOOKING_STATUS_ASSIGNED,
  BookingStatus.BOOKING_STATUS_DRIVER_EN_ROUTE,
  BookingStatus.BOOKING_STATUS_AT_PICKUP,
  BookingStatus.BOOKING_STATUS_IN_TRANSIT,
  BookingStatus.BOOKING_STATUS_AT_DROPOFF,
]);

/** BOOKING_STATUS_IN_TRANSIT → "in_transit". */
export function statusWord(status: BookingStatus): string {
  return bookingStatusToJSON(status)
    .replace(/^BOOKING_STATUS_/, "")
    .toLowerCase();
}

/** What a driver released by a reassignment is shown: why the trip left them. */
export function reassignedReason(reason: string): string {
  return `Reassigned to another driver by operations${reason ? `: ${reason}` : ""}`;
}

export class TripFeed {
  private consumer: PendingConsumer | undefined;
  private subscription: Subscription | undefined;
  private reloading: Polling | undefined;
  private readonly now: () => number;

  constructor(private readonly options: TripFeedOptions) {
    this.now = options.now ?? Date.now;
  }

  private get changedSubject(): string {
    return `${this.options.trackingSubjectRoot}.trip.changed`;
  }

  /**
   * Subscribes to changes, loads the active trips, then starts the shared consumer in the
   * background (it keeps looking for booking's stream while booking has not created it yet).
   */
  async start(): Promise<void> {
    const { bus, logger } = this.options;
    this.subscription = bus.subscribe(
      this.changedSubject,
      (msg) =>
        void this.refresh(new TextDecoder().decode(msg.data)).catch((error: unknown) =>
          logger.warn({ err: error }, "could not re-read a changed trip"),
        ),
    );
    await this.reload();
    this.reloading = startPolling({
      name: "active trips reload",
      everyMs: this.options.reloadMs,
      delayFirstRun: true,
      logger,
      task: () => this.reload(),
    });
    this.consumer = this.startConsumer();
  }

  /** Resolves once the consumer of booking's events runs (tests, diagnostics). */
  get consuming(): Promise<void> {
    return this.consumer?.ready ?? Promise.resolve();
  }

  async stop(): Promise<void> {
    await this.reloading?.stop();
    this.subscription?.unsubscribe();
    await this.consumer?.stop();
  }

  /** The trip of a booking: from memory, else from the table (a trip ended long ago, or one this replica has not heard of yet). */
  async lookup(bookingId: string): Promise<Trip | undefined> {
    const known = this.options.directory.byBooking(bookingId);
    if (known) return known;
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(bookingId)) return undefined;
    const row = await findTrip(this.options.db, bookingId);
    if (!row) return undefined;
    await this.options.directory.apply(row);
    return this.options.directory.byBooking(bookingId) ?? tripFromRow(row);
  }

  /** The stored row of a booking (tests, diagnostics). */
  async row(bookingId: string) {
    return findTrip(this.options.db, bookingId);
  }

  /** After a change of the row: re-read it here (and return it) and tell every other replica. */
  async changed(bookingId: string): Promise<TripRow | undefined> {
    const row = await this.refresh(bookingId);
    this.options.bus.publish(this.changedSubject, new TextEncoder().encode(bookingId));
    return row;
  }

  private async refresh(bookingId: string): Promise<TripRow | undefined> {
    const row = await findTrip(this.options.db, bookingId);
    if (row) await this.options.directory.apply(row);
    return row;
  }

  private async reload(): Promise<void> {
    const mark = this.options.directory.mark();
    const rows = await activeTrips(this.options.db);
    await this.options.directory.reconcile(rows, mark);
  }

  private startConsumer(): PendingConsumer {
    const { bus, logger, bookingStream, bookingSubjectRoot, durable } = this.options;
    return consumeWhenAvailable(
      bus,
      {
        stream: bookingStream,
        durable,
        filterSubjects: [`${bookingSubjectRoot}.>`],
        handler: (msg) => this.handle(msg),
        concurrency: 4,
        maxDeliver: 20,
        onDeadLetter: (dead) =>
          logger.error(
            { subject: dead.subject, seq: dead.seq, reason: dead.reason },
            "a booking event could not be applied to the trips; given up",
          ),
      },
      logger,
    );
  }

  private async handle(msg: EventMessage): Promise<void> {
    const { db, bookingSubjectRoot } = this.options;
    const type = msg.subject.slice(bookingSubjectRoot.length + 1);
    const envelope = EventEnvelope.decode(msg.data);
    if (!envelope.payload) return;
    let changedId: string | undefined;
    /** Drivers whose trip this event takes away: told once the row is re-read. */
    const released: Array<{ driverId: string; notice: TakenAwayNotice }> = [];
    /** The driver a newly applied ASSIGNED gives the trip to: told once the row is re-read. */
    let assignedTo: string | undefined;
    if (type === "created") {
      const event = BookingCreated.decode(envelope.payload.value);
      const changed = await recordBookingOpened(db, {
        bookingId: event.bookingId,
        customerId: event.customerId,
        pickup: event.pickup,
        drop: event.drop,
        pickupPlace: event.pickupCity,
        dropPlace: event.dropCity,
      });
      // A new row is known to no replica yet and has no driver: nothing to re-read or announce.
      if (changed === "updated") changedId = event.bookingId;
    } else if (type === "status_changed" || type === "cancelled" || type === "reopened" || type === "reassigned") {
      const event = BookingStatusChanged.decode(envelope.payload.value);
      const driverId = event.driverId || null;
      const takenAway = type === "cancelled" || type === "reopened" ? type : undefined;
      const reassigned = type === "reassigned";
      const issuedAt = envelope.occurredAt ?? new Date(this.now());
      const apply = async (executor: Kysely<TrackingDatabase> | Transaction<TrackingDatabase>) => {
        const before = takenAway || reassigned ? await findTrip(executor, event.bookingId) : undefined;
        const applied = await recordBookingStatus(
          executor,
          {
            bookingId: event.bookingId,
            sequence: envelope.sequence,
            status: statusWord(event.to),
            customerId: event.customerId,
            transporterId: event.transporterId || null,
            driverId,
            vehicleId: event.vehicleId || null,
            active: driverId !== null && !event.reopened && ON_TRIP.has(event.to),
          },
          new Date(this.now()),
        );
        if (!applied) return false;
        const common = { bookingId: event.bookingId, eventId: envelope.id, issuedAt };
        if (takenAway && before?.active && before.driver_id)
          released.push({ driverId: before.driver_id, notice: { kind: takenAway, reason: event.reason, ...common } });
        // Operations moved the trip to another driver: the released one is told it is gone (a
        // cancellation for them, saying why), the new one gets the assignment below.
        const previous = event.previousDriverId || (before?.active ? before.driver_id : null);
        if (reassigned && previous && previous !== driverId)
          released.push({
            driverId: previous,
            notice: { kind: "cancelled", reason: reassignedReason(event.reason), ...common },
          });
        for (const { driverId: releasedId, notice } of released) await recordDriverNotice(executor, releasedId, notice);
        return true;
      };
      // A change that can take a trip away commits with the released drivers' notices: a crash
      // between them would leave a redelivery with nothing to change, and the notice would be
      // lost. Any other change is one statement.
      const changed = takenAway || reassigned ? await db.transaction().execute(apply) : await apply(db);
      if (changed) changedId = event.bookingId;
      if (changed && !takenAway && driverId && event.to === BookingStatus.BOOKING_STATUS_ASSIGNED)
        assignedTo = driverId;
    }
    if (!changedId) return;
    let row: TripRow | undefined;
    try {
      row = await this.changed(changedId);
    } finally {
      // Told once this replica's directory no longer has them on the trip: a stream opening now
      // either read the trip before (and was told it, then this) or is not told it at all.
      for (const { driverId: releasedId, notice } of released) this.options.tellDriver?.(releasedId, notice);
    }
    if (assignedTo && row) this.options.tellDriver?.(assignedTo, { kind: "assigned", trip: tripFromRow(row) });
  }
}
