/**
 * Dispatch's use cases: broadcasts of orders in waves, offers, the atomic acceptance, driver
 * assignment with its deadline, and the booking calls dispatch owes (confirm, assign, reopen,
 * expire). It orchestrates rules, the repository, the outbox and the upstream services; the
 * gRPC handlers only translate to and from protobuf.
 *
 * Every timer lives in Postgres (broadcasts.next_wave_at, bookings.assign_by and
 * bookings.sync_due_at) and is claimed by one conditional statement, so a timer survives a
 * restart and fires once however many replicas run. A booking call is recorded as owed in the
 * same transaction as the change that needs it, made at once, and retried by the poller until
 * booking answers: a crash between the claim and the call loses nothing.
 */
import { v7 as uuidv7 } from "uuid";
import type { Principal } from "@weelo/auth";
import type { Bus } from "@weelo/bus";
import type { BookingCreated, BookingStatusChanged } from "@weelo/contracts/grpc/weelo/booking/v1/events";
import { OfferNotice, type Offer } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch";
import type { WatchOffersResponse } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch_service";
import { DriverStatus, VehicleStatus } from "@weelo/contracts/grpc/weelo/fleet/v1/fleet";
import { isUniqueViolation } from "@weelo/db";
import { DomainError, FailedPreconditionError, InternalError, NotFoundError, UnavailableError } from "@weelo/errors";
import type { Logger } from "@weelo/log";
import { Counter, Histogram, type Registry } from "prom-client";
import { offerToProto, type OfferTrip } from "./dispatch.convert.js";
import {
  liveSubject,
  publishOffers,
  recordOfferAccepted,
  recordOffersWithdrawn,
  recordWaveSent,
  waveSentRow,
} from "./dispatch.events.js";
import * as repo from "./dispatch.repository.js";
import {
  acceptRefusal,
  decodePageToken,
  dueStep,
  pageOf,
  FINAL_FOR_TRANSPORTER,
  firstWaveAt,
  isPermanentFailure,
  offerClosedRefusal,
  pageSize,
  retryDelayMs,
  roundLengthMs,
  validateDeclineReason,
  validateId,
  validateVehicleCount,
  waveCandidates,
  type Candidate,
  type WavePlan,
  type WaveStep,
} from "./dispatch.rules.js";
import type { BookingRow, BroadcastRow, OfferRow, OfferStatus } from "./dispatch.table.js";
import type { TransporterPresence } from "./presence.js";
import type { DispatchUpstreams } from "./upstreams.js";

export interface DispatchSettings {
  plan: WavePlan;
  gatherMs: number;
  maxOffersPerWave: number;
  assignDeadlineMs: number;
  leaseMs: number;
  syncRetryMs: number;
  watchResyncMs: number;
}

export interface DispatchDeps {
  db: repo.DispatchDb;
  bus: Pick<Bus, "publish" | "subscribe">;
  upstreams: DispatchUpstreams;
  presence: TransporterPresence;
  events: {
    /** First token of dispatch's subjects ("dispatch" outside tests). */
    subjectRoot: string;
    /** Called after a transaction that wrote events commits: the outbox relay publishes them. */
    committed(): void;
  };
  settings: DispatchSettings;
  logger: Logger;
  registry: Registry;
  /** Aborted when the process starts shutting down: WatchOffers streams end (apps reconnect elsewhere). */
  closing?: AbortSignal;
  /** The clock (tests move it). */
  now?: () => Date;
}

/** Largest number of transporters' nearest drivers asked of tracking per wave (its own limit). */
const NEARBY_LIMIT = 200;
/** Largest number of transporters asked of fleet per wave. */
const SERVING_LIMIT = 500;
/** Open offers sent when a WatchOffers stream starts or resyncs, at most. */
const WATCH_SNAPSHOT_LIMIT = 500;
/** Live notices a WatchOffers stream buffers before it drops them and re-reads the database instead. */
const WATCH_MAX_QUEUED = 512;
const REOPEN_REASON = "the transporter did not assign a driver in time";

const offerNotFound = () => new NotFoundError("offer not found", { reason: "OFFER_NOT_FOUND", field: "offer_id" });
const bookingNotFound = () =>
  new NotFoundError("booking not found among your accepted bookings", {
    reason: "BOOKING_NOT_FOUND",
    field: "booking_id",
  });

/** Thrown inside an acceptance's transaction to roll it back when the trucks were gone. */
class TrucksGone extends Error {}
/** Thrown inside an acceptance's transaction to roll it back when the offer was answered meanwhile. */
class OfferAnswered extends Error {}
/** Thrown inside an event's transaction to roll it back when the booking is known already. */
class AlreadyKnown extends Error {}

export type DispatchService = ReturnType<typeof createDispatchService>;

/** Whom a wave reaches: candidates nearest first, whether each watches offers live, and how long the search took. */
interface WaveSearch {
  candidates: Candidate[];
  online: boolean[];
  searchMs: number;
}

function dispatchMetrics(registry: Registry) {
  const existing = registry.getSingleMetric("weelo_dispatch_offers_total");
  if (existing) {
    return {
      offers: existing as Counter<"outcome">,
      accepts: registry.getSingleMetric("weelo_dispatch_accepts_total") as Counter<"result">,
      waves: registry.getSingleMetric("weelo_dispatch_waves_total") as Counter<"step">,
      syncs: registry.getSingleMetric("weelo_dispatch_booking_calls_total") as Counter<"call" | "result">,
      waveSeconds: registry.getSingleMetric("weelo_dispatch_wave_duration_seconds") as Histogram<"step">,
    };
  }
  return {
    offers: new Counter({
      name: "weelo_dispatch_offers_total",
      help: "Offers by what became of them.",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    accepts: new Counter({
      name: "weelo_dispatch_accepts_total",
      help: "AcceptOffer calls by result.",
      labelNames: ["result"],
      registers: [registry],
    }),
    waves: new Counter({
      name: "weelo_dispatch_waves_total",
      help: "Broadcast steps run (wave or expiry).",
      labelNames: ["step"],
      registers: [registry],
    }),
    syncs: new Counter({
      name: "weelo_dispatch_booking_calls_total",
      help: "Calls dispatch owed booking, by call and result (ok, retry, refused).",
      labelNames: ["call", "result"],
      registers: [registry],
    }),
    waveSeconds: new Histogram({
      name: "weelo_dispatch_wave_duration_seconds",
      help: "Time to run one broadcast step: candidates, offers, events.",
      labelNames: ["step"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
  };
}

export function createDispatchService(deps: DispatchDeps) {
  const { db, bus, upstreams, presence, events, settings, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const root = events.subjectRoot;
  const metrics = dispatchMetrics(deps.registry);
  const later = (ms: number, from = now()) => new Date(from.getTime() + ms);

  const offersOf = (rows: readonly OfferRow[], trip: OfferTrip): Offer[] => rows.map((row) => offerToProto(row, trip));

  // ------------------------------------------------------------------------ broadcast state

  /**
   * Adds open bookings to an order's broadcast (locked by the caller): more trucks on a
   * running broadcast, or a new round of waves when it had closed.
   */
  async function addOpenTrucks(
    trx: repo.DispatchTrx,
    broadcast: BroadcastRow,
    count: number,
    knownDelta: number,
  ): Promise<BroadcastRow> {
    const at = now();
    const known = broadcast.known_bookings + knownDelta;
    if (broadcast.status === "open") {
      let next = broadcast.next_wave_at;
      // Still gathering the order's bookings: the last one makes the first wave due now.
      if (
        broadcast.wave === 0 &&
        broadcast.claim_token === null &&
        known >= broadcast.vehicle_count &&
        next &&
        next > at
      )
        next = at;
      return repo.updateBroadcast(trx, broadcast.order_id, {
        open_trucks: broadcast.open_trucks + count,
        known_bookings: known,
        next_wave_at: next,
      });
    }
    return repo.updateBroadcast(trx, broadcast.order_id, {
      status: "open",
      open_trucks: broadcast.open_trucks + count,
      known_bookings: known,
      round: broadcast.round + 1,
      wave: 0,
      next_wave_at: at,
      claim_token: null,
      expires_at: later(roundLengthMs(settings.plan), at),
    });
  }

  /** After a change of an order's open trucks: the due wave now, or the new count to open offers. */
  async function afterTrucksChanged(broadcast: BroadcastRow): Promise<void> {
    if (broadcast.status === "open" && broadcast.next_wave_at && broadcast.next_wave_at <= now()) {
      await runDueWaves(1, broadcast.order_id);
      return;
    }
    const open = await repo.openOffersOfOrder(db, broadcast.order_id);
    publishOffers(bus, root, offersOf(open, broadcast));
  }

  // ---------------------------------------------------------------------------------- waves

  /**
   * The transporters a wave reaches around the pickup (live drivers from tracking, bases from
   * fleet), nearest first, without those in `excluded`, and which of them watch offers live.
   * One source failing is logged and the wave goes on with the other; both failing throws.
   */
  async function searchWave(
    trip: OfferTrip & Pick<BroadcastRow, "order_id">,
    step: WaveStep,
    excluded: ReadonlySet<string>,
  ): Promise<WaveSearch> {
    const started = performance.now();
    const pickup = { lat: trip.pickup_lat, lng: trip.pickup_lng };
    const [nearby, serving] = await Promise.allSettled([
      // The nearest driver of each transporter, enough of them to fill the wave after the exclusions.
      upstreams.tracking.findNearbyDrivers({
        center: pickup,
        radiusM: step.radiusM,
        vehicleType: trip.vehicle_type,
        limit: Math.min(NEARBY_LIMIT, settings.maxOffersPerWave + excluded.size),
        onePerTransporter: true,
      }),
      upstreams.fleet.findServingTransporters({
        point: pickup,
        vehicleType: trip.vehicle_type,
        maxDistanceM: step.last ? 0 : step.radiusM,
        limit: SERVING_LIMIT,
      }),
    ]);
    if (nearby.status === "rejected" && serving.status === "rejected") {
      throw Object.assign(new Error("neither tracking nor fleet answered the candidate search"), {
        cause: nearby.reason,
      });
    }
    for (const failed of [nearby, serving].filter((r) => r.status === "rejected")) {
      logger.warn(
        { err: failed.reason, orderId: trip.order_id },
        "a candidate source failed; the wave goes on with the other (the next wave asks again)",
      );
    }
    const candidates = waveCandidates(
      {
        nearbyDrivers:
          nearby.status === "fulfilled"
            ? nearby.value.drivers.map((d) => ({ transporterId: d.transporterId, distanceM: d.distanceM }))
            : [],
        servingTransporters:
          serving.status === "fulfilled"
            ? serving.value.transporters.map((t) => ({ transporterId: t.transporterId, distanceM: t.distanceM }))
            : [],
      },
      excluded,
      settings.maxOffersPerWave,
    );
    const online = await presence.online(candidates.map((c) => c.transporterId));
    return { candidates, online, searchMs: Math.round(performance.now() - started) };
  }

  /** The offers of a wave: one open offer per candidate, as the row Postgres will hold. */
  function waveOffers(
    broadcast: Pick<BroadcastRow, "order_id" | "round">,
    step: WaveStep,
    search: WaveSearch,
    at: Date,
  ): OfferRow[] {
    return search.candidates.map((c, i) => ({
      id: uuidv7(),
      order_id: broadcast.order_id,
      transporter_id: c.transporterId,
      status: "open" as const,
      round: broadcast.round,
      wave: step.index + 1,
      accepted_count: 0,
      withdrawal_reason: null,
      decline_reason: "",
      transporter_online: search.online[i]!,
      created_at: at,
      updated_at: at,
    }));
  }

  /** After a wave's commit: its events to the relay, its offers to the transporters' live streams. */
  function waveSent(
    broadcast: BroadcastRow,
    offers: readonly OfferRow[],
    step: WaveStep,
    search: WaveSearch,
    started: number,
  ): void {
    metrics.waves.inc({ step: "wave" });
    if (offers.length > 0) {
      events.committed();
      metrics.offers.inc({ outcome: "created" }, offers.length);
      publishOffers(bus, root, offersOf(offers, broadcast));
    }
    logger.info(
      {
        orderId: broadcast.order_id,
        wave: step.index + 1,
        radiusM: step.radiusM,
        candidates: search.candidates.length,
        offered: offers.length,
        openTrucks: broadcast.open_trucks,
        searchMs: search.searchMs,
        ms: Math.round(performance.now() - started),
      },
      "broadcast wave sent",
    );
  }

  /** Runs the claimed step of a broadcast: its next wave, or its expiry after the last. */
  async function advance(claimed: BroadcastRow, claimedAt: Date): Promise<void> {
    const step = dueStep(settings.plan, claimed.wave);
    const end = metrics.waveSeconds.startTimer({ step: step.kind });
    try {
      if (step.kind === "expire") return await expireRound(claimed);
      const started = performance.now();
      const offered = await repo.offeredTransporters(db, claimed.order_id);
      const excluded = new Set(
        offered.filter((o) => FINAL_FOR_TRANSPORTER.includes(o.status)).map((o) => o.transporter_id),
      );
      const search = await searchWave(claimed, step, excluded);
      const at = now();
      const done = await db.transaction().execute(async (trx) => {
        const broadcast = await repo.completeWave(
          trx,
          claimed.order_id,
          claimed.claim_token!,
          later(settings.plan.durationMs, claimedAt),
        );
        if (!broadcast) return undefined; // the claim ran out, or the order filled meanwhile
        const offers = await repo.upsertOffers(trx, waveOffers(broadcast, step, search, at));
        if (offers.length > 0)
          await recordWaveSent(trx, root, broadcast, offers, await repo.openBookingIds(trx, broadcast.order_id), at);
        return { broadcast, offers };
      });
      if (done) waveSent(done.broadcast, done.offers, step, search, started);
    } finally {
      end();
    }
  }

  /**
   * A one-truck order arrives complete: its broadcast opens with the first wave already sent,
   * in one statement (the candidates are searched first: a new order has no offers to exclude).
   * False when the general path must take it: dispatch knows the order already, or neither
   * candidate source answered (then the poller runs the wave as soon as one does).
   */
  async function openWithFirstWave(event: BookingCreated, sequence: number, at: Date): Promise<boolean> {
    const step = dueStep(settings.plan, 0);
    if (step.kind !== "wave") return false;
    const end = metrics.waveSeconds.startTimer({ step: step.kind });
    const started = performance.now();
    try {
      const broadcast: BroadcastRow = {
        ...tripOf(event),
        vehicle_count: 1,
        known_bookings: 1,
        open_trucks: 1,
        status: "open",
        round: 1,
        wave: 1,
        next_wave_at: later(settings.plan.durationMs, at),
        claim_token: null,
        expires_at: later(roundLengthMs(settings.plan), at),
        version: "1",
        created_at: at,
        updated_at: at,
      };
      let search: WaveSearch;
      try {
        search = await searchWave(broadcast, step, new Set());
      } catch (error) {
        logger.warn(
          { err: error, orderId: event.orderId },
          "no candidate source answered; the order opens with its first wave due",
        );
        return false;
      }
      const offers = waveOffers(broadcast, step, search, at);
      try {
        await repo.openOrderWithWave(db, {
          broadcast,
          booking: {
            booking_id: event.bookingId,
            order_id: event.orderId,
            state: "open",
            booking_seq: sequence,
            updated_at: at,
          },
          offers,
          outbox: offers.length > 0 ? [waveSentRow(root, broadcast, offers, [event.bookingId], at)] : [],
        });
      } catch (error) {
        if (isUniqueViolation(error, repo.Constraint.bookingKey)) return true; // a redelivery, or a booking cancelled before it opened
        if (isUniqueViolation(error, repo.Constraint.broadcastKey)) return false;
        throw error;
      }
      logger.info({ bookingId: event.bookingId, orderId: event.orderId, openTrucks: 1 }, "booking open for broadcast");
      waveSent(broadcast, offers, step, search, started);
      return true;
    } finally {
      end();
    }
  }

  /** The last wave passed with trucks open: the order's open bookings expire, its open offers close. */
  async function expireRound(claimed: BroadcastRow): Promise<void> {
    const at = now();
    const done = await db.transaction().execute(async (trx) => {
      const broadcast = await repo.expireBroadcast(trx, claimed.order_id, claimed.claim_token!);
      if (!broadcast) return undefined;
      const bookings = await repo.markOpenBookings(trx, broadcast.order_id, {
        state: "expiring",
        sync: "expire",
        sync_due_at: later(settings.leaseMs, at),
        sync_attempts: 1,
      });
      const offers = await repo.closeOpenOffers(trx, broadcast.order_id, "expired", "expired", at);
      await recordOffersWithdrawn(trx, root, offers, "expired", at);
      return { broadcast, bookings, offers };
    });
    if (!done) return;
    metrics.waves.inc({ step: "expire" });
    if (done.offers.length > 0) {
      events.committed();
      metrics.offers.inc({ outcome: "expired" }, done.offers.length);
      publishOffers(bus, root, offersOf(done.offers, done.broadcast));
    }
    logger.info(
      { orderId: claimed.order_id, bookings: done.bookings.length },
      "broadcast expired: no transporter took the open trucks",
    );
    await Promise.all(done.bookings.map((b) => runSync(b)));
  }

  /** Claims due broadcast steps (of one order, or the oldest) and runs them; returns how many were claimed. */
  async function runDueWaves(limit: number, orderId?: string): Promise<number> {
    const at = now();
    const claimed = await repo.claimDueBroadcasts(db, {
      now: at,
      leaseUntil: later(settings.leaseMs, at),
      token: uuidv7(),
      limit,
      ...(orderId ? { orderId } : {}),
    });
    await Promise.all(
      claimed.map((b) =>
        advance(b, at).catch((error: unknown) =>
          logger.warn(
            { err: error, orderId: b.order_id },
            "broadcast step failed; it runs again when its claim runs out",
          ),
        ),
      ),
    );
    return claimed.length;
  }

  // ------------------------------------------------------------------------ owed booking calls

  /**
   * Makes the booking call a row owes. Success clears the debt; a refusal (the booking moved:
   * cancelled by its customer, or changed by someone else) settles it the way the refusal
   * says; anything else (booking down, a deadline) leaves it owed with a later due time.
   */
  async function runSync(row: BookingRow): Promise<void> {
    const kind = row.sync;
    if (!kind) return;
    const settled = { sync: null, sync_due_at: null, sync_attempts: 0 } as const;
    try {
      switch (kind) {
        case "confirm":
          await upstreams.booking.confirmBooking({ bookingId: row.booking_id, transporterId: row.transporter_id! });
          await repo.updateBooking(db, row.booking_id, settled, { sync: "confirm" });
          break;
        case "assign": {
          await upstreams.booking.assignBooking({
            bookingId: row.booking_id,
            transporterId: row.transporter_id!,
            driverId: row.driver_id!,
            driverUserId: row.driver_user_id!,
            vehicleId: row.vehicle_id!,
          });
          // Booking's ASSIGNED event reaches tracking, which tells the driver's stream (durably).
          await repo.updateBooking(db, row.booking_id, settled, { sync: "assign" });
          break;
        }
        case "reopen":
          await upstreams.booking.reopenBooking({ bookingId: row.booking_id, reason: REOPEN_REASON });
          await repo.updateBooking(db, row.booking_id, settled, { sync: "reopen" });
          break;
        case "expire":
          await upstreams.booking.expireBooking({ bookingId: row.booking_id });
          await repo.updateBooking(db, row.booking_id, { ...settled, state: "expired" }, { sync: "expire" });
          break;
      }
      metrics.syncs.inc({ call: kind, result: "ok" });
    } catch (error) {
      const code = error instanceof DomainError ? error.code : undefined;
      if (isPermanentFailure(code)) {
        metrics.syncs.inc({ call: kind, result: "refused" });
        logger.warn(
          { err: error, bookingId: row.booking_id, call: kind },
          "booking refused a call dispatch owed it; settled as refused",
        );
        // confirm/expire: the booking left PENDING (its customer cancelled). assign: it is no longer
        // CONFIRMED for this transporter; the driver and vehicle are released. reopen: it already moved.
        const refused =
          kind === "confirm" || kind === "expire"
            ? { ...settled, state: "cancelled" as const }
            : kind === "assign"
              ? {
                  ...settled,
                  state: "accepted" as const,
                  driver_id: null,
                  driver_user_id: null,
                  vehicle_id: null,
                  assigned_at: null,
                }
              : settled;
        await repo.updateBooking(db, row.booking_id, refused, { sync: kind });
        throw error;
      }
      metrics.syncs.inc({ call: kind, result: "retry" });
      const attempts = Math.max(1, row.sync_attempts);
      await repo
        .updateBooking(
          db,
          row.booking_id,
          { sync_due_at: later(retryDelayMs(attempts, settings.syncRetryMs)) },
          { sync: kind },
        )
        .catch(() => undefined);
      logger.warn(
        { err: error, bookingId: row.booking_id, call: kind, attempts },
        "a booking call failed; retrying later",
      );
      throw error;
    }
  }

  const runSyncQuietly = (row: BookingRow) =>
    runSync(row).then(
      () => true,
      () => false,
    );

  // ------------------------------------------------------------------------- booking events

  /** The trip of an order's broadcast, as its first booking.created tells it. */
  function tripOf(event: BookingCreated) {
    return {
      order_id: event.orderId,
      customer_id: event.customerId,
      vehicle_type: event.vehicleType,
      pickup_lat: event.pickup?.lat ?? 0,
      pickup_lng: event.pickup?.lng ?? 0,
      drop_lat: event.drop?.lat ?? 0,
      drop_lng: event.drop?.lng ?? 0,
      pickup_city: event.pickupCity,
      drop_city: event.dropCity,
      fare_paise: String(event.farePaise),
      distance_m: event.distanceM,
      goods_type: event.goodsType,
      weight_kg: event.weightKg,
      scheduled_at: event.scheduledAt ?? null,
    };
  }

  async function onBookingCreated(event: BookingCreated, sequence: number): Promise<void> {
    const at = now();
    const vehicleCount = Math.max(1, event.orderVehicleCount);
    // The common case takes one statement; orders of several trucks gather their bookings first.
    if (vehicleCount === 1 && (await openWithFirstWave(event, sequence, at))) return;
    const broadcast = await db
      .transaction()
      .execute(async (trx) => {
        const first = firstWaveAt(1, vehicleCount, at, settings.gatherMs);
        const { broadcast, created } = await repo.ensureBroadcast(trx, {
          ...tripOf(event),
          vehicle_count: vehicleCount,
          known_bookings: 1,
          open_trucks: 1,
          status: "open",
          round: 1,
          wave: 0,
          next_wave_at: first,
          expires_at: later(roundLengthMs(settings.plan), first),
        });
        // The broadcast row is locked (or new) before the booking row: the order every transaction keeps.
        if (!(await repo.insertOpenBooking(trx, { bookingId: event.bookingId, orderId: event.orderId, seq: sequence })))
          throw new AlreadyKnown();
        return created ? broadcast : addOpenTrucks(trx, broadcast, 1, 1);
      })
      .catch((error: unknown) => {
        if (error instanceof AlreadyKnown) return undefined;
        throw error;
      });
    if (!broadcast) return; // a redelivery (or a booking cancelled before it opened): nothing changes
    logger.info(
      { bookingId: event.bookingId, orderId: event.orderId, openTrucks: broadcast.open_trucks },
      "booking open for broadcast",
    );
    await afterTrucksChanged(broadcast);
  }

  async function onBookingReopened(event: BookingStatusChanged, sequence: number): Promise<void> {
    const broadcast = await db.transaction().execute(async (trx) => {
      const locked = await repo.lockBroadcast(trx, event.orderId);
      const row = await repo.lockBooking(trx, event.bookingId);
      if (!row) {
        logger.warn({ bookingId: event.bookingId }, "a reopened booking dispatch never saw created is not broadcast");
        return undefined;
      }
      if (Number(row.booking_seq) >= sequence) return undefined;
      if (
        row.state === "cancelled" ||
        row.state === "expired" ||
        row.state === "expiring" ||
        row.state === "closed" ||
        row.state === "open"
      ) {
        await repo.updateBooking(trx, row.booking_id, { booking_seq: sequence });
        return undefined;
      }
      await repo.updateBooking(trx, row.booking_id, {
        state: "open",
        transporter_id: null,
        offer_id: null,
        accepted_at: null,
        assign_by: null,
        driver_id: null,
        driver_user_id: null,
        vehicle_id: null,
        assigned_at: null,
        sync: null,
        sync_due_at: null,
        sync_attempts: 0,
        booking_seq: sequence,
      });
      return locked ? addOpenTrucks(trx, locked, 1, 0) : undefined;
    });
    if (!broadcast) return;
    logger.info(
      { bookingId: event.bookingId, orderId: broadcast.order_id, round: broadcast.round },
      "reopened booking back to broadcast",
    );
    await afterTrucksChanged(broadcast);
  }

  /** booking.cancelled, or booking.expired (`expired`: dispatch's own expiry coming back). */
  async function onBookingCancelled(event: BookingStatusChanged, sequence: number, expired = false): Promise<void> {
    const at = now();
    const result = await db.transaction().execute(async (trx) => {
      const broadcast = await repo.lockBroadcast(trx, event.orderId);
      const row = await repo.lockBooking(trx, event.bookingId);
      if (!row) {
        // Cancelled before its booking.created was handled: a tombstone keeps that one from opening it.
        await repo.insertBookingTombstone(trx, {
          bookingId: event.bookingId,
          orderId: event.orderId,
          state: expired ? "expired" : "cancelled",
          seq: sequence,
        });
        return undefined;
      }
      if (Number(row.booking_seq) >= sequence) return undefined;
      const wasOpen = row.state === "open";
      const terminal = row.state === "expired" || row.state === "closed";
      await repo.updateBooking(
        trx,
        row.booking_id,
        terminal
          ? { booking_seq: sequence }
          : { state: expired ? "expired" : "cancelled", sync: null, sync_due_at: null, booking_seq: sequence },
      );
      if (!wasOpen || !broadcast) return undefined;
      const open = Math.max(0, broadcast.open_trucks - 1);
      if (open > 0 || broadcast.status !== "open")
        return {
          broadcast: await repo.updateBroadcast(trx, broadcast.order_id, { open_trucks: open }),
          closed: [] as OfferRow[],
        };
      const taken = await repo.countTakenBookings(trx, broadcast.order_id);
      const updated = await repo.updateBroadcast(trx, broadcast.order_id, {
        open_trucks: 0,
        status: taken > 0 ? "filled" : "cancelled",
        next_wave_at: null,
        claim_token: null,
      });
      const reason = taken > 0 ? ("filled" as const) : ("cancelled" as const);
      const closed = await repo.closeOpenOffers(trx, broadcast.order_id, "withdrawn", reason, at);
      await recordOffersWithdrawn(trx, root, closed, reason, at);
      return { broadcast: updated, closed };
    });
    if (!result) return;
    if (result.closed.length > 0) {
      events.committed();
      metrics.offers.inc({ outcome: "withdrawn" }, result.closed.length);
      publishOffers(bus, root, offersOf(result.closed, result.broadcast));
      logger.info(
        { orderId: result.broadcast.order_id, withdrawn: result.closed.length },
        "order cancelled: open offers withdrawn",
      );
    } else {
      await afterTrucksChanged(result.broadcast);
    }
  }

  /** Any other status change: the event's sequence is recorded; a completed trip frees its driver and vehicle. */
  async function onBookingChanged(event: BookingStatusChanged, sequence: number, completed: boolean): Promise<void> {
    await repo.recordBookingSequence(db, { bookingId: event.bookingId, seq: sequence, completed, now: now() });
  }

  // --------------------------------------------------------------------------- offer views

  async function offerViews(ids: string[]): Promise<Map<string, Offer>> {
    const rows = await repo.findOfferViews(db, ids);
    return new Map(rows.map((r) => [r.id, offerToProto(r, r)]));
  }

  /**
   * An AcceptOffer of an offer the caller accepted already, for as many trucks: a retry whose
   * first answer was lost gets that answer again (the bookings and their deadline). Anything
   * else about a closed offer is refused with what happened to it.
   */
  async function answerAgain(
    principal: Principal,
    offer: OfferRow,
    count: number,
  ): Promise<{ offer: Offer; bookingIds: string[]; assignBy: Date }> {
    if (offer.status === "accepted" && offer.accepted_count === count) {
      const bookings = await repo.bookingsOfOffer(db, offer.id, principal.userId);
      const view = (await offerViews([offer.id])).get(offer.id);
      const assignBy = bookings.find((b) => b.assign_by)?.assign_by;
      if (view && bookings.length > 0 && assignBy) {
        metrics.accepts.inc({ result: "repeated" });
        return { offer: view, bookingIds: bookings.map((b) => b.booking_id), assignBy };
      }
    }
    metrics.accepts.inc({ result: "refused" });
    if (offer.status === "accepted") {
      throw new FailedPreconditionError(
        `you already accepted this offer for ${offer.accepted_count} truck${offer.accepted_count === 1 ? "" : "s"}`,
        { reason: "OFFER_ALREADY_ACCEPTED" },
      );
    }
    throw offerClosedRefusal(offer.status);
  }

  /** The caller's offer; NOT_FOUND for a missing offer and for someone else's alike. */
  async function ownOffer(principal: Principal, offerId: string): Promise<OfferRow> {
    const offer = await repo.findOffer(db, offerId);
    if (!offer || offer.transporter_id !== principal.userId) throw offerNotFound();
    return offer;
  }

  return {
    onBookingCreated,
    onBookingReopened,
    onBookingCancelled,
    onBookingChanged,
    runDueWaves,
    runSync,

    /** Owed booking calls that are due (after a crash, or booking being down): made again. */
    async runDueSyncs(limit = 50): Promise<number> {
      const at = now();
      const rows = await repo.claimDueSyncs(db, { now: at, leaseUntil: later(settings.leaseMs, at), limit });
      await Promise.all(rows.map(runSyncQuietly));
      return rows.length;
    },

    /** Acceptances past their assign deadline: each booking is reopened, and comes back to broadcast. */
    async runMissedDeadlines(limit = 50): Promise<number> {
      const at = now();
      const rows = await repo.claimMissedDeadlines(db, { now: at, leaseUntil: later(settings.leaseMs, at), limit });
      for (const row of rows)
        logger.info(
          { bookingId: row.booking_id, transporterId: row.transporter_id },
          "assign deadline passed: reopening the booking",
        );
      await Promise.all(rows.map(runSyncQuietly));
      return rows.length;
    },

    /** A page of the transporter's offers in a status (open by default), newest first. */
    async listOffers(
      principal: Principal,
      query: { status: OfferStatus; pageSize: number; pageToken: string },
    ): Promise<{ offers: Offer[]; nextPageToken: string }> {
      const limit = pageSize(query.pageSize);
      const rows = await repo.listOffers(db, {
        transporterId: principal.userId,
        status: query.status,
        afterId: decodePageToken(query.pageToken),
        limit: limit + 1,
      });
      const { items, nextPageToken } = pageOf(rows, limit);
      return { offers: items.map((r) => offerToProto(r, r)), nextPageToken };
    },

    /**
     * Takes `count` trucks of an offered order. One transaction: the offer answered (open →
     * accepted, the caller's only), the trucks taken by one conditional UPDATE (open_trucks ≥
     * count), that many open bookings handed over with ConfirmBooking owed, the other offers
     * withdrawn when nothing is left, and the events. Then the confirmations are made (and
     * retried by the poller if booking does not answer).
     */
    async acceptOffer(
      principal: Principal,
      offerIdText: string,
      countRequested: number,
    ): Promise<{ offer: Offer; bookingIds: string[]; assignBy: Date }> {
      const offerId = validateId(offerIdText, "offer_id");
      const count = validateVehicleCount(countRequested);
      const at = now();
      const assignBy = later(settings.assignDeadlineMs, at);
      // Learn the order first: every transaction that changes an order's offers or bookings
      // locks its broadcast row first, so concurrent acceptances queue there instead of deadlocking.
      const known = await ownOffer(principal, offerId);
      if (known.status !== "open") return answerAgain(principal, known, count);
      let taken;
      try {
        taken = await db.transaction().execute(async (trx) => {
          const broadcast = await repo.takeTrucks(trx, known.order_id, count);
          if (!broadcast) throw new TrucksGone(known.order_id);
          const offer = await repo.answerOffer(trx, {
            offerId,
            transporterId: principal.userId,
            status: "accepted",
            acceptedCount: count,
            now: at,
          });
          if (!offer) throw new OfferAnswered();
          const bookings = await repo.claimOpenBookings(trx, {
            orderId: offer.order_id,
            count,
            transporterId: principal.userId,
            offerId,
            now: at,
            assignBy,
            syncDueAt: later(settings.leaseMs, at),
          });
          if (bookings.length !== count)
            throw new InternalError("the order's open bookings do not match its open trucks");
          bookings.sort((a, b) => (a.booking_id < b.booking_id ? -1 : 1)); // the order a repeated answer gives them in
          const withdrawn =
            broadcast.status === "filled"
              ? await repo.closeOpenOffers(trx, offer.order_id, "withdrawn", "filled", at)
              : [];
          await recordOffersWithdrawn(trx, root, withdrawn, "filled", at);
          const bookingIds = bookings.map((b) => b.booking_id);
          await recordOfferAccepted(trx, root, offer, { bookingIds, openAfter: broadcast.open_trucks, assignBy, at });
          const stillOpen = broadcast.status === "open" ? await repo.openOffersOfOrder(trx, offer.order_id) : [];
          return { offer, broadcast, bookings, withdrawn, stillOpen };
        });
      } catch (error) {
        if (!(error instanceof OfferAnswered) && !(error instanceof TrucksGone)) throw error;
        // Answered meanwhile, perhaps by this same request sent twice: the first took the trucks,
        // this one waited behind it.
        const current = await ownOffer(principal, offerId);
        if (error instanceof OfferAnswered || current.status === "accepted")
          return answerAgain(principal, current, count);
        metrics.accepts.inc({ result: "taken" });
        throw acceptRefusal(await repo.findBroadcast(db, error.message), count);
      }
      events.committed();
      metrics.accepts.inc({ result: "won" });
      metrics.offers.inc({ outcome: "accepted" });
      if (taken.withdrawn.length > 0) metrics.offers.inc({ outcome: "withdrawn" }, taken.withdrawn.length);
      publishOffers(bus, root, offersOf([taken.offer, ...taken.withdrawn, ...taken.stillOpen], taken.broadcast));
      logger.info(
        {
          orderId: taken.offer.order_id,
          transporterId: principal.userId,
          trucks: count,
          openTrucks: taken.broadcast.open_trucks,
          bookings: taken.bookings.map((b) => b.booking_id),
        },
        "offer accepted",
      );
      await Promise.all(taken.bookings.map(runSyncQuietly));
      return {
        offer: offerToProto(taken.offer, taken.broadcast),
        bookingIds: taken.bookings.map((b) => b.booking_id),
        assignBy,
      };
    },

    /** Says no to an open offer; the order is never offered to this transporter again. */
    async declineOffer(principal: Principal, offerIdText: string, reasonText: string): Promise<Offer> {
      const offerId = validateId(offerIdText, "offer_id");
      const reason = validateDeclineReason(reasonText);
      const at = now();
      const known = await ownOffer(principal, offerId);
      const done = await db.transaction().execute(async (trx) => {
        const broadcast = await repo.updateBroadcast(trx, known.order_id, {}); // the order's lock first, and a new version
        const offer = await repo.answerOffer(trx, {
          offerId,
          transporterId: principal.userId,
          status: "declined",
          declineReason: reason,
          now: at,
        });
        return offer ? { offer, broadcast } : undefined;
      });
      if (!done) throw offerClosedRefusal((await ownOffer(principal, offerId)).status);
      metrics.offers.inc({ outcome: "declined" });
      const offer = offerToProto(done.offer, done.broadcast);
      publishOffers(bus, root, [offer]);
      logger.info({ offerId, orderId: done.offer.order_id, transporterId: principal.userId }, "offer declined");
      return offer;
    },

    /**
     * Binds one of the transporter's drivers and vehicles to a booking they accepted: fleet
     * says both are theirs and the vehicle fits; the claim (state accepted → assigned) fails on
     * a unique index when the driver or vehicle is on another active assignment; then booking
     * makes it ASSIGNED and the driver's stream is told.
     */
    async assignDriver(
      principal: Principal,
      input: { bookingId: string; driverId: string; vehicleId: string },
    ): Promise<BookingRow> {
      const bookingId = validateId(input.bookingId, "booking_id");
      const driverId = validateId(input.driverId, "driver_id");
      const vehicleId = validateId(input.vehicleId, "vehicle_id");
      let row = await repo.findBooking(db, bookingId);
      if (!row || row.transporter_id !== principal.userId) throw bookingNotFound();
      if (row.state === "assigned" && row.driver_id === driverId && row.vehicle_id === vehicleId) return row; // a retry
      if (row.state !== "accepted") {
        throw new FailedPreconditionError(
          row.state === "assigned"
            ? "this booking already has a driver"
            : "this booking is no longer yours to assign (its deadline passed, or it was cancelled)",
          { reason: row.state === "assigned" ? "ALREADY_ASSIGNED" : "BOOKING_NOT_ASSIGNABLE", field: "booking_id" },
        );
      }
      if (row.sync === "confirm") {
        // The confirmation is still owed: make it now rather than wait for the poller.
        if (!(await runSyncQuietly(row)))
          throw new UnavailableError("the booking is still being confirmed; try again in a moment", {
            retryAfterSeconds: 2,
          });
        row = (await repo.findBooking(db, bookingId))!;
        if (row.state !== "accepted" || row.transporter_id !== principal.userId) throw bookingNotFound();
      }
      const broadcast = await repo.findBroadcast(db, row.order_id);
      const fleet = await upstreams.fleet.getDriverAndVehicle({ transporterId: principal.userId, driverId, vehicleId });
      if (!fleet.driverFound)
        throw new NotFoundError("driver not found in your fleet", { reason: "DRIVER_NOT_FOUND", field: "driver_id" });
      if (!fleet.vehicleFound)
        throw new NotFoundError("vehicle not found in your fleet", {
          reason: "VEHICLE_NOT_FOUND",
          field: "vehicle_id",
        });
      if (broadcast && fleet.vehicleType !== broadcast.vehicle_type) {
        throw new FailedPreconditionError(
          `the booking needs a ${broadcast.vehicle_type} vehicle; this one is ${fleet.vehicleType}`,
          {
            reason: "VEHICLE_TYPE_MISMATCH",
            field: "vehicle_id",
          },
        );
      }
      if (
        fleet.vehicleStatus === VehicleStatus.VEHICLE_STATUS_MAINTENANCE ||
        fleet.vehicleStatus === VehicleStatus.VEHICLE_STATUS_INACTIVE
      ) {
        throw new FailedPreconditionError("the vehicle is in maintenance or inactive", {
          reason: "VEHICLE_NOT_AVAILABLE",
          field: "vehicle_id",
        });
      }
      if (!fleet.driverUserId) {
        throw new FailedPreconditionError(
          "the driver has never logged in to the driver app; ask them to log in first",
          { reason: "DRIVER_NOT_LOGGED_IN", field: "driver_id" },
        );
      }
      if (fleet.driverStatus === DriverStatus.DRIVER_STATUS_ON_TRIP) {
        throw new FailedPreconditionError("the driver is on another trip", {
          reason: "DRIVER_BUSY",
          field: "driver_id",
        });
      }
      const at = now();
      let claimed: BookingRow | undefined;
      try {
        claimed = await repo.updateBooking(
          db,
          bookingId,
          {
            state: "assigned",
            driver_id: driverId,
            driver_user_id: fleet.driverUserId,
            vehicle_id: vehicleId,
            assigned_at: at,
            sync: "assign",
            sync_due_at: later(settings.leaseMs, at),
            sync_attempts: 0,
          },
          { states: ["accepted"], sync: null, transporterId: principal.userId },
        );
      } catch (error) {
        if (isUniqueViolation(error)) {
          const onVehicle = isUniqueViolation(error, repo.Constraint.activeVehicle);
          throw new FailedPreconditionError(
            onVehicle ? "the vehicle is on another active trip" : "the driver is on another active trip",
            {
              reason: onVehicle ? "VEHICLE_BUSY" : "DRIVER_BUSY",
              field: onVehicle ? "vehicle_id" : "driver_id",
            },
          );
        }
        throw error;
      }
      if (!claimed) {
        const current = await repo.findBooking(db, bookingId);
        if (current?.state === "assigned" && current.driver_id === driverId && current.vehicle_id === vehicleId)
          return current;
        throw new FailedPreconditionError(
          "this booking is no longer yours to assign (its deadline passed, or it changed meanwhile)",
          {
            reason: "BOOKING_NOT_ASSIGNABLE",
            field: "booking_id",
          },
        );
      }
      try {
        await runSync(claimed);
      } catch (error) {
        if (error instanceof DomainError && isPermanentFailure(error.code)) throw error;
        // Booking did not answer: the assignment stands and the poller completes it.
      }
      logger.info({ bookingId, transporterId: principal.userId, driverId, vehicleId }, "driver assigned");
      return (await repo.findBooking(db, bookingId)) ?? claimed;
    },

    /**
     * The transporter's open offers, then every change as it happens. Subscribes to the live
     * subject before reading the database, so nothing falls between; each offer carries the
     * order's version, so a late or repeated notice never overwrites a newer state; and every
     * WATCH_RESYNC_MS (or when notices pile up) the open offers are read again, so a notice
     * lost in a crash is made up for.
     */
    async *watchOffers(principal: Principal, callSignal: AbortSignal): AsyncGenerator<WatchOffersResponse> {
      const me = principal.userId;
      const signal = deps.closing ? AbortSignal.any([callSignal, deps.closing]) : callSignal;
      const queue: Offer[] = [];
      let overflow = false;
      let wake: (() => void) | undefined;
      const subscription = bus.subscribe(liveSubject(root, me), (msg) => {
        let offer: Offer | undefined;
        try {
          offer = OfferNotice.decode(msg.data).offer;
        } catch {
          return;
        }
        if (!offer) return;
        if (queue.length >= WATCH_MAX_QUEUED) overflow = true;
        else queue.push(offer);
        wake?.();
      });
      await presence.enter(me);
      const sent = new Map<string, { version: number; open: boolean }>();
      /** What the client should see of an offer copy: newer than what it has, and a change it cares about. */
      const response = (offer: Offer): WatchOffersResponse | undefined => {
        const known = sent.get(offer.id);
        if (known && offer.version < known.version) return undefined;
        const open = offer.status === 1; // OFFER_STATUS_OPEN
        if (known && offer.version === known.version && open === known.open) return undefined;
        sent.set(offer.id, { version: offer.version, open });
        if (open) return { kind: { $case: "offer", value: offer } };
        return known?.open ? { kind: { $case: "closed", value: offer } } : undefined;
      };
      const readOpen = async () =>
        (
          await repo.listOffers(db, {
            transporterId: me,
            status: "open",
            afterId: undefined,
            limit: WATCH_SNAPSHOT_LIMIT,
          })
        ).map((r) => offerToProto(r, r));
      try {
        const first = await readOpen();
        for (const offer of first.reverse()) {
          const message = response(offer);
          if (message) yield message;
        }
        yield { kind: { $case: "caughtUp", value: { openOffers: first.length } } };
        // The first re-read comes at a random point of the interval, so streams opened together
        // (a replica restarting, a city's apps reconnecting) do not all read at the same moment.
        let lastRead = Date.now() - Math.floor(Math.random() * settings.watchResyncMs);
        while (!signal.aborted) {
          while (queue.length > 0 && !signal.aborted) {
            const message = response(queue.shift()!);
            if (message) yield message;
          }
          if (overflow || Date.now() - lastRead >= settings.watchResyncMs) {
            overflow = false;
            queue.length = 0;
            lastRead = Date.now();
            const open = await readOpen();
            const openIds = new Set(open.map((o) => o.id));
            const gone = [...sent].filter(([id, s]) => s.open && !openIds.has(id)).map(([id]) => id);
            const closed = await offerViews(gone);
            for (const id of gone) {
              const offer = closed.get(id);
              if (!offer) continue;
              sent.set(id, { version: offer.version, open: false });
              yield { kind: { $case: "closed", value: offer } };
            }
            for (const offer of open.reverse()) {
              const message = response(offer);
              if (message) yield message;
            }
            continue;
          }
          if (queue.length > 0) continue;
          await new Promise<void>((resolve) => {
            const done = () => {
              clearTimeout(timer);
              signal.removeEventListener("abort", done);
              wake = undefined;
              resolve();
            };
            const timer = setTimeout(done, Math.max(10, settings.watchResyncMs - (Date.now() - lastRead)));
            signal.addEventListener("abort", done, { once: true });
            wake = done;
          });
        }
      } finally {
        subscription.unsubscribe();
        await presence.leave(me);
      }
    },
  };
}
