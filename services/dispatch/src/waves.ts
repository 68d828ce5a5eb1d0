/**
 * Broadcast waves: an order's open trucks offered to transporters nearer first, then wider.
 * Searching a wave's candidates, opening a one-truck order with its first wave sent, running
 * the due waves (or the round's expiry after the last), and the broadcast's state as its open
 * trucks change.
 *
 * Every wave's timer lives in Postgres (broadcasts.next_wave_at) and is claimed by one
 * conditional statement, so it survives a restart and fires once however many replicas run.
 */
import { v7 as uuidv7 } from "uuid";
import type { BookingCreated } from "@weelo/contracts/grpc/weelo/booking/v1/events";
import { isUniqueViolation } from "@weelo/db";
import { outboxRow } from "@weelo/outbox";
import type { BookingCalls } from "./booking-calls.js";
import type { DispatchContext } from "./dispatch.context.js";
import type { OfferTrip } from "./dispatch.convert.js";
import { publishOffers, recordOffersWithdrawn, recordWaveSent, waveSentEvent } from "./dispatch.events.js";
import * as repo from "./dispatch.repository.js";
import {
  dueStep,
  FINAL_FOR_TRANSPORTER,
  roundLengthMs,
  waveCandidates,
  type Candidate,
  type WaveStep,
} from "./dispatch.rules.js";
import type { BroadcastRow, OfferRow } from "./dispatch.table.js";

/** Largest number of transporters' nearest drivers asked of tracking per wave (its own limit). */
const NEARBY_LIMIT = 200;
/** Largest number of transporters asked of fleet per wave. */
const SERVING_LIMIT = 500;

/** Whom a wave reaches: candidates nearest first, whether each watches offers live, and how long the search took. */
interface WaveSearch {
  candidates: Candidate[];
  online: boolean[];
  searchMs: number;
}

/** The trip of an order's broadcast, as its first booking.created tells it. */
export function tripOf(event: BookingCreated) {
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

export type Waves = ReturnType<typeof createWaves>;

export function createWaves(ctx: DispatchContext, calls: Pick<BookingCalls, "makeBookingCall">) {
  const { db, bus, upstreams, presence, events, settings, logger, metrics, now, later, root, offersOf } = ctx;

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
          outbox: offers.length > 0 ? [outboxRow(waveSentEvent(root, broadcast, offers, [event.bookingId], at))] : [],
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
        booking_call: "expire",
        booking_call_due_at: later(settings.leaseMs, at),
        booking_call_attempts: 1,
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
    await Promise.all(done.bookings.map((b) => calls.makeBookingCall(b)));
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

  return { addOpenTrucks, afterTrucksChanged, openWithFirstWave, runDueWaves };
}
