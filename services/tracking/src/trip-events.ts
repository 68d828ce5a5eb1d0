/**
 * Tracking's own trip events, written through the transactional outbox to the TRACKING
 * stream (`<root>.geofence.arriving`, `<root>.geofence.arrived`, `<root>.driver_dark`):
 * - geofences: the first accepted point inside each ring of the stop a trip heads to claims
 *   the ring in the trips table (a conditional update: one winner across replicas and
 *   retries) and writes the event in the same transaction;
 * - driver_dark: one replica at a time (a lease in the cache) looks for active trips whose
 *   driver has been silent longer than DRIVER_DARK_AFTER_S and claims `dark_at` the same way;
 *   the driver's next point clears it, so a new silence raises a new event;
 * - CheckArrival: booking asks before AT_PICKUP / AT_DROPOFF.
 */
import { v7 as uuidv7 } from "uuid";
import {
  DriverWentDark,
  GeofenceEntered,
  GeofenceKind,
  TripStop,
} from "@weelo/contracts/grpc/weelo/tracking/v1/events";
import type { Cache } from "@weelo/cache";
import { FailedPreconditionError, InvalidArgumentError } from "@weelo/errors";
import type { Logger } from "@weelo/log";
import { startPolling, type Polling } from "@weelo/runtime/polling";
import { enqueueEvent, type OutboxRelay } from "@weelo/outbox";
import type { Kysely } from "kysely";
import { Counter, type Registry } from "prom-client";
import type { PositionStore } from "./position-store.js";
import { arrivalVerdict, ringsEntered, type AcceptedPoint } from "./tracking.rules.js";
import type { TrackingDatabase, TripRow } from "./tracking.table.js";
import { nextStop, type Ring, type Stop, type Trip, type TripDirectory } from "./trip-directory.js";
import type { TripFeed } from "./trip-feed.js";
import { claimTripEvent, clearDark, type TripEventMark } from "./trips.repository.js";

export const GEOFENCE_PAYLOAD_TYPE = "weelo.tracking.v1.GeofenceEntered";
export const DRIVER_DARK_PAYLOAD_TYPE = "weelo.tracking.v1.DriverWentDark";

/** The subjects of tracking's durable events under a subject root (listed one by one: the core location and command subjects must stay out of the stream). */
export function trackingEventSubjects(root: string) {
  return { arriving: `${root}.geofence.arriving`, arrived: `${root}.geofence.arrived`, dark: `${root}.driver_dark` };
}

export interface TripEventsOptions {
  db: Kysely<TrackingDatabase>;
  relay: Pick<OutboxRelay, "kick">;
  feed: Pick<TripFeed, "changed" | "lookup">;
  directory: TripDirectory;
  store: PositionStore;
  cache: Pick<Cache, "setIfAbsent">;
  logger: Logger;
  registry: Registry;
  subjectRoot: string;
  arrivingM: number;
  arrivedM: number;
  darkAfterMs: number;
  darkCheckMs: number;
  now?: () => number;
}

const STOP_TO_PROTO: Record<Stop, TripStop> = { pickup: TripStop.TRIP_STOP_PICKUP, drop: TripStop.TRIP_STOP_DROP };
const RING_TO_PROTO: Record<Ring, GeofenceKind> = {
  arriving: GeofenceKind.GEOFENCE_KIND_ARRIVING,
  arrived: GeofenceKind.GEOFENCE_KIND_ARRIVED,
};

export class TripEvents {
  private readonly now: () => number;
  private readonly subjects: ReturnType<typeof trackingEventSubjects>;
  private readonly events: Counter<"type">;
  private readonly replicaId = uuidv7();
  private darkWatch: Polling | undefined;
  /** Work started by points (claims, clears), awaited at close. */
  private readonly inFlight = new Set<Promise<void>>();
  /** The geofence work of each trip in progress, chained. */
  private readonly geofenceChains = new Map<string, Promise<void>>();

  constructor(private readonly options: TripEventsOptions) {
    this.now = options.now ?? Date.now;
    this.subjects = trackingEventSubjects(options.subjectRoot);
    this.events = new Counter({
      name: "weelo_tracking_trip_events_total",
      help: "Trip events raised by this process (geofence_arriving, geofence_arrived, driver_dark).",
      labelNames: ["type"],
      registers: [options.registry],
    });
    for (const type of ["geofence_arriving", "geofence_arrived", "driver_dark"]) this.events.labels(type).inc(0);
  }

  /** Called with the accepted points of a driver on a trip (in sequence order); never blocks the ack. */
  onTripPoints(trip: Trip, points: readonly AcceptedPoint[]): void {
    if (trip.darkAt !== undefined) {
      trip.darkAt = undefined;
      this.track(
        clearDark(this.options.db, trip.bookingId, trip.driverId).then(async (cleared) => {
          if (cleared) await this.options.feed.changed(trip.bookingId);
        }),
        "could not clear a driver's dark mark",
      );
    }
    if (points.length === 0) return;
    const stop = nextStop(trip);
    const target = stop ? trip[stop] : undefined;
    if (!stop || !target) return;
    const entered = ringsEntered(
      target,
      points,
      { arriving: trip.fired.has(`${stop}_arriving`), arrived: trip.fired.has(`${stop}_arrived`) },
      { arrivingM: this.options.arrivingM, arrivedM: this.options.arrivedM },
    );
    if (entered.length === 0) return;
    for (const entry of entered) trip.fired.add(`${stop}_${entry.ring}`);
    // One trip's events are written one after the other, so their sequence follows the rings.
    const previous = this.geofenceChains.get(trip.bookingId) ?? Promise.resolve();
    const work = previous.then(async () => {
      for (const [i, entry] of entered.entries()) {
        try {
          await this.raiseGeofence(trip, stop, entry.ring, entry.point, entry.distanceM);
        } catch (error) {
          for (const rest of entered.slice(i)) trip.fired.delete(`${stop}_${rest.ring}`); // the next point inside tries again
          throw error;
        }
      }
    });
    const settled = work.catch(() => undefined);
    this.geofenceChains.set(trip.bookingId, settled);
    void settled.then(() => {
      if (this.geofenceChains.get(trip.bookingId) === settled) this.geofenceChains.delete(trip.bookingId);
    });
    this.track(work, "could not record a geofence event");
  }

  /** Booking's check before AT_PICKUP / AT_DROPOFF: resolves with the distance, or throws FAILED_PRECONDITION. */
  async checkArrival(request: {
    bookingId: string;
    driverId: string;
    stop: TripStop;
    stopLocation: { lat: number; lng: number } | undefined;
  }) {
    const stop: Stop | undefined =
      request.stop === TripStop.TRIP_STOP_PICKUP
        ? "pickup"
        : request.stop === TripStop.TRIP_STOP_DROP
          ? "drop"
          : undefined;
    if (!stop) throw new InvalidArgumentError("stop", "stop must be TRIP_STOP_PICKUP or TRIP_STOP_DROP");
    if (!request.driverId) throw new InvalidArgumentError("driver_id", "driver_id is required");
    const trip = request.bookingId ? await this.options.feed.lookup(request.bookingId) : undefined;
    const target = trip?.[stop] ?? request.stopLocation;
    if (!target || !Number.isFinite(target.lat) || !Number.isFinite(target.lng)) {
      throw new InvalidArgumentError(
        "stop_location",
        "stop_location is required: tracking does not know this booking's stops",
      );
    }
    const stored = await this.options.store.get(request.driverId);
    const position = stored?.position;
    const last = position ? { lat: position.lat, lng: position.lng, lastSeenAt: stored.lastSeenAt } : undefined;
    const verdict = arrivalVerdict(stop, last, target, this.now(), {
      arrivedM: this.options.arrivedM,
      maxAgeMs: this.options.darkAfterMs,
    });
    if (!verdict.arrived) throw new FailedPreconditionError(verdict.message, { reason: verdict.reason });
    return { distanceM: verdict.distanceM, radiusM: this.options.arrivedM, recordedAt: new Date(position!.recordedAt) };
  }

  /** Starts looking for dark drivers every DRIVER_DARK_CHECK_S (one replica at a time). */
  startDarkWatch(): void {
    this.darkWatch ??= startPolling({
      name: "dark driver sweep",
      everyMs: this.options.darkCheckMs,
      delayFirstRun: true,
      logger: this.options.logger,
      task: () => this.sweepDark(),
    });
  }

  /** One look for dark drivers; resolves to how many were reported (tests call it directly). */
  async sweepDark(useLease = true): Promise<number> {
    if (
      useLease &&
      !(await this.options.cache.setIfAbsent(
        "tracking:dark-sweep",
        this.replicaId,
        Math.max(500, this.options.darkCheckMs - 200),
      ))
    )
      return 0;
    const now = this.now();
    const candidates = [...this.options.directory.activeTrips()].filter(
      (t) => t.darkAt === undefined && now - t.activeSince > this.options.darkAfterMs,
    );
    let reported = 0;
    for (let i = 0; i < candidates.length; i += 200) {
      const chunk = candidates.slice(i, i + 200);
      const stored = await Promise.all(chunk.map((t) => this.options.store.get(t.driverId)));
      for (const [j, trip] of chunk.entries()) {
        const lastSeenAt = stored[j]?.lastSeenAt ?? 0;
        const heardAt = Math.max(lastSeenAt, trip.activeSince);
        if (now - heardAt <= this.options.darkAfterMs) continue;
        const position = stored[j]?.position;
        if (
          await this.raiseDark(trip, lastSeenAt >= trip.activeSince ? lastSeenAt : undefined, position, now - heardAt)
        )
          reported += 1;
      }
    }
    return reported;
  }

  async close(): Promise<void> {
    await this.darkWatch?.stop();
    await Promise.allSettled([...this.inFlight]);
  }

  private track(work: Promise<void>, failure: string): void {
    const tracked = work.catch((error: unknown) => this.options.logger.warn({ err: error }, failure));
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }

  private async raiseGeofence(
    trip: Trip,
    stop: Stop,
    ring: Ring,
    point: AcceptedPoint,
    distanceM: number,
  ): Promise<void> {
    const radiusM = ring === "arriving" ? this.options.arrivingM : this.options.arrivedM;
    await this.raise(trip, {
      mark: `${stop}_${ring}_at`,
      claimedAt: new Date(this.now()),
      occurredAt: new Date(point.recordedAt),
      subject: this.subjects[ring],
      type: `tracking.geofence.${ring}`,
      payloadType: GEOFENCE_PAYLOAD_TYPE,
      payload: (row, occurredAt) =>
        GeofenceEntered.encode({
          ...partiesOf(trip, row),
          stop: STOP_TO_PROTO[stop],
          kind: RING_TO_PROTO[ring],
          location: { lat: point.lat, lng: point.lng },
          distanceM,
          radiusM,
          occurredAt,
        }).finish(),
      counted: `geofence_${ring}`,
      won: () =>
        this.options.logger.info(
          { bookingId: trip.bookingId, driverId: trip.driverId, stop, ring, distanceM: Math.round(distanceM) },
          "geofence entered",
        ),
    });
  }

  private async raiseDark(
    trip: Trip,
    lastSeenAt: number | undefined,
    position: AcceptedPoint | undefined,
    silentMs: number,
  ): Promise<boolean> {
    const at = new Date(this.now());
    const silentSeconds = Math.floor(silentMs / 1000);
    return this.raise(trip, {
      mark: "dark_at",
      claimedAt: at,
      occurredAt: at,
      subject: this.subjects.dark,
      type: "tracking.driver_dark",
      payloadType: DRIVER_DARK_PAYLOAD_TYPE,
      payload: (row, occurredAt) =>
        DriverWentDark.encode({
          ...partiesOf(trip, row),
          lastSeenAt: lastSeenAt ? new Date(lastSeenAt) : undefined,
          lastLocation: position ? { lat: position.lat, lng: position.lng } : undefined,
          silentSeconds,
          occurredAt,
        }).finish(),
      counted: "driver_dark",
      won: () => {
        trip.darkAt = at.getTime();
        this.options.logger.warn(
          { bookingId: trip.bookingId, driverId: trip.driverId, silentS: silentSeconds },
          "driver went dark",
        );
      },
    });
  }

  /**
   * Raises a one-off trip event: claims its mark on the trip row (one winner across replicas
   * and retries) and writes the event through the outbox in the same transaction; the winner
   * then counts it, sends it on at once and tells the replicas. True when this call won.
   */
  private async raise(trip: Trip, event: OneOffEvent): Promise<boolean> {
    const won = await this.options.db.transaction().execute(async (trx) => {
      const row = await claimTripEvent(trx, trip.bookingId, trip.driverId, event.mark, event.claimedAt);
      if (!row) return false;
      await enqueueEvent(trx, {
        subject: event.subject,
        type: event.type,
        subjectId: trip.bookingId,
        sequence: Number(row.event_sequence),
        occurredAt: event.occurredAt,
        payloadType: event.payloadType,
        payload: event.payload(row, event.occurredAt),
      });
      return true;
    });
    if (!won) return false;
    event.won();
    this.events.labels(event.counted).inc();
    this.options.relay.kick();
    await this.options.feed.changed(trip.bookingId);
    return true;
  }
}

/** What raise() needs to know of one kind of trip event. */
interface OneOffEvent {
  mark: TripEventMark;
  /** When the mark is claimed (the trips row's column). */
  claimedAt: Date;
  occurredAt: Date;
  subject: string;
  type: string;
  payloadType: string;
  /** The encoded payload, from the claimed row (it names the customer and transporter). */
  payload(row: TripRow, occurredAt: Date): Uint8Array;
  /** The label of weelo_tracking_trip_events_total. */
  counted: "geofence_arriving" | "geofence_arrived" | "driver_dark";
  /** What the winner notes in memory and logs. */
  won(): void;
}

/** The people a trip event concerns, as every tracking event names them. */
function partiesOf(trip: Trip, row: TripRow) {
  return {
    bookingId: trip.bookingId,
    driverId: trip.driverId,
    customerId: row.customer_id,
    transporterId: row.transporter_id ?? "",
  };
}
