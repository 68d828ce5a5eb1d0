/**
 * The tracking pipeline, free of gRPC: points in (filtered, deduplicated by sequence number,
 * per driver), latest positions and the nearby index out, trip points fanned out on core
 * NATS and written as breadcrumbs. Acks mean durable: ingest() returns the highest sequence
 * number handled and a promise that resolves once every point up to it is stored (its
 * breadcrumb batch committed and the latest position recorded); callers ack after it.
 */
import type { Principal } from "@weelo/auth";
import type { Bus } from "@weelo/bus";
import { DriverPosition } from "@weelo/contracts/grpc/weelo/tracking/v1/tracking";
import { InvalidArgumentError, NotFoundError } from "@weelo/errors";
import { isOnEarth } from "@weelo/formats";
import type { Logger } from "@weelo/log";
import { startPolling } from "@weelo/runtime/polling";
import type { Kysely } from "kysely";
import { Counter, Gauge, type Registry } from "prom-client";
import type { BreadcrumbWriter } from "./breadcrumbs.js";
import type { NearbyResult, PositionStore } from "./position-store.js";
import { tripPoints } from "./tracking.repository.js";
import {
  filterPoint,
  pathLengthM,
  POINT_OUTCOMES,
  type AcceptedPoint,
  type FilterLimits,
  type PointOutcome,
  type RawPoint,
  type Rejection,
} from "./tracking.rules.js";
import type { TrackingDatabase } from "./tracking.table.js";
import type { Trip, TripDirectory } from "./trip-directory.js";

export interface IngestResult {
  /** Every point up to this sequence number is handled. */
  ackedSeq: number;
  /** Points of this call rejected by the filters. */
  rejected: number;
  /** Each rejected point and why, in sequence order. */
  rejections: { seq: number; reason: Rejection }[];
  /** Resolves when everything up to ackedSeq is durable. */
  durable: Promise<void>;
}

interface DriverState {
  lastSeq: number;
  last: AcceptedPoint | undefined;
  /** The durability of the driver's latest ingest: later acks wait for earlier writes. */
  durable: Promise<void>;
  touchedAt: number;
}

export interface TrackingServiceDeps {
  db: Kysely<TrackingDatabase>;
  store: PositionStore;
  trips: TripDirectory;
  /** A booking's trip from memory or the trips table (for authorization of watchers). */
  lookupTrip(bookingId: string): Promise<Trip | undefined>;
  /** Sees every handled message of a driver on a trip (geofences, dark marks); must not block. */
  onTripPoints?(trip: Trip, accepted: readonly AcceptedPoint[]): void;
  /** Sees each handled message of every driver: its latest accepted position and when (the fleet stream); must not block. */
  onDriverSeen?(driverId: string, latest: AcceptedPoint | undefined, at: number): void;
  writer: BreadcrumbWriter;
  bus: Bus;
  logger: Logger;
  registry: Registry;
  limits: FilterLimits;
  subjectRoot: string;
  staleAfterMs: number;
  maxNearbyRadiusM: number;
  maxNearbyLimit: number;
  maxPointsPerMessage: number;
  watchMaxPending: number;
  now?: () => number;
}

export const DEFAULT_NEARBY_LIMIT = 20;
const MAX_TRIP_POINTS = 100_000;
const ignore = () => undefined;
/** A driver's in-process state is forgotten after this long without points (it is reloaded from the store). */
const STATE_IDLE_MS = 10 * 60_000;

export type TrackingService = ReturnType<typeof createTrackingService>;

export function createTrackingService(deps: TrackingServiceDeps) {
  const now = deps.now ?? Date.now;
  /** Drivers' states in memory; `loading` holds those being read from the store. */
  const states = new Map<string, DriverState>();
  const loading = new Map<string, Promise<DriverState>>();
  // Counted in plain numbers per point and added to the counter when it is read: prom-client's
  // inc() per point was a measurable share of the hot path.
  const uncounted = Object.fromEntries(POINT_OUTCOMES.map((outcome) => [outcome, 0])) as Record<PointOutcome, number>;
  const pointsTotal = new Counter({
    name: "weelo_tracking_points_total",
    help: "Location points received, by outcome (accepted, jitter, duplicate, or the filter that rejected them).",
    labelNames: ["outcome"],
    registers: [deps.registry],
    collect() {
      for (const outcome of POINT_OUTCOMES) {
        this.labels(outcome).inc(uncounted[outcome]);
        uncounted[outcome] = 0;
      }
    },
  });
  for (const outcome of POINT_OUTCOMES) pointsTotal.labels(outcome).inc(0);
  new Gauge({
    name: "weelo_tracking_breadcrumbs_pending",
    help: "Trip points waiting to be written to Postgres.",
    registers: [deps.registry],
    collect() {
      this.set(deps.writer.pending);
    },
  });

  let watchQueued = 0;
  new Gauge({
    name: "weelo_tracking_watch_queued_positions",
    help: "Positions queued for WatchLocation streams that have not taken them yet (bounded per stream by WATCH_MAX_PENDING).",
    registers: [deps.registry],
    collect() {
      this.set(watchQueued);
    },
  });
  const watchDroppedTotal = new Counter({
    name: "weelo_tracking_watch_dropped_positions_total",
    help: "Positions a slow WatchLocation stream skipped (the oldest queued are dropped; the newest always arrives).",
    registers: [deps.registry],
  });

  const locationSubject = (bookingId: string) => `${deps.subjectRoot}.location.${bookingId}`;

  /**
   * WatchLocation streams of this process by booking: a point ingested here reaches them at
   * once instead of after a trip through the bus (the bus still brings those of other replicas).
   */
  const watchersHere = new Map<string, Set<(position: DriverPosition) => void>>();
  function watchHere(bookingId: string, take: (position: DriverPosition) => void): () => void {
    let takers = watchersHere.get(bookingId);
    if (!takers) {
      takers = new Set();
      watchersHere.set(bookingId, takers);
    }
    takers.add(take);
    return () => {
      takers.delete(take);
      if (takers.size === 0 && watchersHere.get(bookingId) === takers) watchersHere.delete(bookingId);
    };
  }

  function loadState(driverId: string): Promise<DriverState> {
    let pending = loading.get(driverId);
    if (!pending) {
      pending = deps.store.get(driverId).then(
        (stored) => {
          loading.delete(driverId);
          const state: DriverState = {
            lastSeq: stored?.lastSeq ?? 0,
            last: stored?.position,
            durable: Promise.resolve(),
            touchedAt: now(),
          };
          states.set(driverId, state);
          return state;
        },
        (error: unknown) => {
          loading.delete(driverId);
          throw error;
        },
      );
      loading.set(driverId, pending);
    }
    return pending;
  }

  // Forgets the state of drivers not heard from for STATE_IDLE_MS (their next point reloads it).
  const sweeper = startPolling({
    name: "idle driver state sweep",
    everyMs: 60_000,
    delayFirstRun: true,
    logger: deps.logger,
    task: async () => {
      const cutoff = now() - STATE_IDLE_MS;
      for (const [driverId, state] of states) if (state.touchedAt < cutoff) states.delete(driverId);
    },
  });

  function toPosition(driverId: string, point: AcceptedPoint, lastSeenAt: number): DriverPosition {
    return {
      driverId,
      location: { lat: point.lat, lng: point.lng },
      recordedAt: new Date(point.recordedAt),
      accuracyM: point.accuracyM,
      speedMps: point.speedMps,
      heading: point.heading,
      seq: point.seq,
      lastSeenAt: new Date(lastSeenAt),
    };
  }

  async function authorizedTrip(principal: Principal, bookingId: string): Promise<Trip> {
    const trip = bookingId ? await deps.lookupTrip(bookingId) : undefined;
    const allowed =
      trip !== undefined &&
      ((principal.role === "customer" && principal.userId === trip.customerId) ||
        (principal.role === "transporter" && principal.userId === trip.transporterId));
    if (!allowed)
      throw new NotFoundError("no trip of yours has this booking id", {
        reason: "TRIP_NOT_FOUND",
        field: "booking_id",
      });
    return trip;
  }

  function ingestInto(driverId: string, state: DriverState, points: readonly RawPoint[]): IngestResult {
    const at = now();
    state.touchedAt = at;
    const sorted = points.length > 1 ? [...points].sort((a, b) => a.seq - b.seq) : points;
    const accepted: AcceptedPoint[] = [];
    const rejections: IngestResult["rejections"] = [];
    let fresh = 0;
    for (const point of sorted) {
      if (!Number.isSafeInteger(point.seq) || point.seq <= state.lastSeq) {
        uncounted.duplicate += 1;
        continue;
      }
      fresh += 1;
      state.lastSeq = point.seq;
      const verdict = filterPoint(point, state.last, at, deps.limits);
      uncounted[verdict.outcome] += 1;
      if (verdict.outcome === "accepted") {
        state.last = verdict.point;
        accepted.push(verdict.point);
      } else if (verdict.outcome !== "jitter") {
        rejections.push({ seq: point.seq, reason: verdict.outcome });
      }
    }
    const ackedSeq = state.lastSeq;
    const rejected = rejections.length;
    if (fresh === 0) return { ackedSeq, rejected, rejections, durable: state.durable };

    const trip = deps.trips.activeOf(driverId);
    const latest = accepted.at(-1);
    deps.onDriverSeen?.(driverId, state.last, at);
    if (trip) {
      deps.onTripPoints?.(trip, accepted);
      const here = watchersHere.get(trip.bookingId);
      for (const point of accepted) {
        const position = toPosition(driverId, point, at);
        deps.bus.publish(locationSubject(trip.bookingId), DriverPosition.encode(position).finish());
        if (here) for (const take of here) take(position);
      }
    }
    // Durable once the earlier ingests of the driver are, and this one's breadcrumbs and position are stored.
    // A message of jitter only (a truck standing at the drop) still writes the last accepted
    // position: a store that lost it (Redis restarted without its keys) has it again at the next
    // message, instead of answering "position unknown" to the arrival check until the truck moves.
    const update = { lastSeq: ackedSeq, lastSeenAt: at, position: latest ?? state.last };
    const written = trip
      ? deps.writer.add(accepted.map((point) => ({ bookingId: trip.bookingId, driverId, point })))
      : undefined;
    const own = (written ? state.durable.then(() => written) : state.durable).then(() =>
      deps.store.record(driverId, update),
    );
    state.durable = own.then(undefined, ignore);
    return { ackedSeq, rejected, rejections, durable: own };
  }

  return {
    locationSubject,

    /**
     * Filters and stores the points of one message (or unary batch) of a driver: at once when
     * the driver's state is in memory (a stream's every message but the first), else once it
     * is loaded from the store.
     */
    ingest(driverId: string, points: readonly RawPoint[]): IngestResult | Promise<IngestResult> {
      if (points.length > deps.maxPointsPerMessage) {
        throw new InvalidArgumentError("points", `at most ${deps.maxPointsPerMessage} points per message`);
      }
      const state = states.get(driverId);
      if (state) return ingestInto(driverId, state, points);
      return loadState(driverId).then((loaded) => ingestInto(driverId, loaded, points));
    },

    /** The latest position of a booking's truck, for its customer and transporter. */
    async getLocation(principal: Principal, bookingId: string): Promise<DriverPosition | undefined> {
      const trip = await authorizedTrip(principal, bookingId);
      const stored = await deps.store.get(trip.driverId);
      return stored?.position ? toPosition(trip.driverId, stored.position, stored.lastSeenAt) : undefined;
    },

    /** The truck of a booking: the last known position, then each accepted update; a slow reader loses the oldest queued positions. */
    async *watchLocation(principal: Principal, bookingId: string, signal: AbortSignal): AsyncGenerator<DriverPosition> {
      const trip = await authorizedTrip(principal, bookingId);
      const queue: DriverPosition[] = [];
      let wake: (() => void) | undefined;
      let newest: DriverPosition | undefined;
      const take = (position: DriverPosition) => {
        // A point ingested here arrives twice: at once, then from the bus.
        if (newest && position.driverId === newest.driverId && position.seq <= newest.seq) return;
        newest = position;
        queue.push(position);
        watchQueued += 1;
        if (queue.length > deps.watchMaxPending) {
          queue.shift();
          watchQueued -= 1;
          watchDroppedTotal.inc();
        }
        wake?.();
      };
      const subscription = deps.bus.subscribe(locationSubject(trip.bookingId), (msg) =>
        take(DriverPosition.decode(msg.data)),
      );
      const unwatchHere = watchHere(trip.bookingId, take);
      const onAbort = () => wake?.();
      signal.addEventListener("abort", onAbort, { once: true });
      try {
        let lastSeq = 0;
        const stored = await deps.store.get(trip.driverId);
        if (stored?.position) {
          lastSeq = stored.position.seq;
          yield toPosition(trip.driverId, stored.position, stored.lastSeenAt);
        }
        while (!signal.aborted) {
          const next = queue.shift();
          if (next) watchQueued -= 1;
          if (!next) {
            await new Promise<void>((resolve) => (wake = resolve));
            wake = undefined;
            continue;
          }
          if (next.seq <= lastSeq) continue;
          lastSeq = next.seq;
          yield next;
        }
      } finally {
        signal.removeEventListener("abort", onAbort);
        unwatchHere();
        subscription.unsubscribe();
        watchQueued -= queue.length;
        queue.length = 0;
      }
    },

    /** Available drivers near a point, nearest first. */
    async findNearbyDrivers(request: {
      lat: number;
      lng: number;
      radiusM: number;
      vehicleType: string;
      limit: number;
      onePerTransporter?: boolean;
    }): Promise<NearbyResult[]> {
      const { lat, lng, radiusM, vehicleType } = request;
      if (!isOnEarth(lat, lng)) {
        throw new InvalidArgumentError("center", "center must be a valid latitude and longitude");
      }
      if (!(radiusM > 0 && radiusM <= deps.maxNearbyRadiusM)) {
        throw new InvalidArgumentError("radius_m", `radius_m must be between 1 and ${deps.maxNearbyRadiusM}`);
      }
      if (!/^[a-z0-9_]{1,50}$/.test(vehicleType))
        throw new InvalidArgumentError("vehicle_type", "vehicle_type is required (a vehicle type id)");
      const limit = request.limit === 0 ? DEFAULT_NEARBY_LIMIT : request.limit;
      if (!(limit >= 1 && limit <= deps.maxNearbyLimit))
        throw new InvalidArgumentError("limit", `limit must be between 1 and ${deps.maxNearbyLimit}`);
      return deps.store.nearby({
        lat,
        lng,
        radiusM,
        vehicleType,
        limit,
        seenSince: now() - deps.staleAfterMs,
        onePerTransporter: request.onePerTransporter === true,
      });
    },

    /** The breadcrumb of a trip and its length, for its customer and transporter. */
    async tripPath(principal: Principal, bookingId: string) {
      const trip = await authorizedTrip(principal, bookingId);
      const rows = await tripPoints(deps.db, trip.bookingId, MAX_TRIP_POINTS);
      const points = rows.map((r) => ({
        seq: Number(r.seq),
        recordedAt: r.recorded_at,
        lat: r.lat,
        lng: r.lng,
        speedMps: r.speed_mps,
        heading: r.heading,
      }));
      return { points, distanceM: pathLengthM(points) };
    },

    close(): Promise<void> {
      return sweeper.stop();
    },
  };
}
