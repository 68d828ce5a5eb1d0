/**
 * Dispatch's events: the durable ones written to the outbox with their change (published to
 * JetStream by the relay), and the live fan-out of offers on core NATS for WatchOffers streams.
 */
import {
  OfferAccepted,
  OfferNotice,
  OfferWithdrawn,
  WaveSent,
  type Offer,
} from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch";
import type { Bus } from "@weelo/bus";
import { enqueueEvent, enqueueEvents, type OutboxEvent } from "@weelo/outbox";
import { reasonToProto } from "./dispatch.convert.js";
import type { BroadcastRow, OfferRow, WithdrawalReason } from "./dispatch.table.js";
import type { DispatchTrx } from "./dispatch.repository.js";

/** Event types (the subjects under the default subject root "dispatch"). */
export const WAVE_SENT_EVENT = "dispatch.wave_sent";
export const OFFER_WITHDRAWN_EVENT = "dispatch.offer_withdrawn";
export const OFFER_ACCEPTED_EVENT = "dispatch.offer_accepted";
/** One event per offer before wave_sent: still a subject of the stream, which holds older ones. */
export const OFFER_CREATED_EVENT = "dispatch.offer_created";
export const DISPATCH_EVENT_TYPES = [
  WAVE_SENT_EVENT,
  OFFER_WITHDRAWN_EVENT,
  OFFER_ACCEPTED_EVENT,
  OFFER_CREATED_EVENT,
] as const;

/** "dispatch.x" under a subject root: "<root>.x". */
export function subjectFor(root: string, eventType: string): string {
  return `${root}${eventType.slice(eventType.indexOf("."))}`;
}

/**
 * The subjects of dispatch's stream: the three event subjects by name, never "<root>.>", so
 * the live "<root>.offers.<id>" messages stay out of JetStream.
 */
export function streamSubjects(root: string): string[] {
  return DISPATCH_EVENT_TYPES.map((type) => subjectFor(root, type));
}

/** The core subject a transporter's WatchOffers streams listen on. */
export function liveSubject(root: string, transporterId: string): string {
  return `${root}.offers.${transporterId}`;
}

/** Offer events are numbered per offer and round: 1 was offer_created, then 2 accepted or withdrawn. */
const SEQ = { created: 1, closed: 2 } as const;

/**
 * The WaveSent event of a wave: one event for all the offers of the wave (a
 * city-wide wave reaches dozens of transporters; one event each was most of the stream).
 */
export function waveSentEvent(
  root: string,
  broadcast: BroadcastRow,
  offers: readonly OfferRow[],
  bookingIds: string[],
  at: Date,
): OutboxEvent {
  const wave = offers[0]?.wave ?? broadcast.wave;
  const payload = WaveSent.encode({
    orderId: broadcast.order_id,
    bookingIds,
    round: broadcast.round,
    wave,
    vehicleType: broadcast.vehicle_type,
    pickup: { lat: broadcast.pickup_lat, lng: broadcast.pickup_lng },
    drop: { lat: broadcast.drop_lat, lng: broadcast.drop_lng },
    pickupCity: broadcast.pickup_city,
    dropCity: broadcast.drop_city,
    farePaise: Number(broadcast.fare_paise),
    vehicleCount: broadcast.open_trucks,
    expiresAt: broadcast.expires_at,
    offers: offers.map((offer) => ({
      offerId: offer.id,
      transporterId: offer.transporter_id,
      transporterOnline: offer.transporter_online,
    })),
    occurredAt: at,
  }).finish();
  return {
    subject: subjectFor(root, WAVE_SENT_EVENT),
    type: WAVE_SENT_EVENT,
    subjectId: broadcast.order_id,
    sequence: broadcast.round * 1000 + wave,
    occurredAt: at,
    payloadType: "weelo.dispatch.v1.WaveSent",
    payload,
  };
}

/** The WaveSent event of a wave that made offers, in the wave's transaction. */
export async function recordWaveSent(
  trx: DispatchTrx,
  root: string,
  broadcast: BroadcastRow,
  offers: readonly OfferRow[],
  bookingIds: string[],
  at: Date,
): Promise<void> {
  if (offers.length === 0) return;
  await enqueueEvent(trx, waveSentEvent(root, broadcast, offers, bookingIds, at));
}

/** The OfferWithdrawn events of offers closed together (an order filled, cancelled or expired), in one statement. */
export async function recordOffersWithdrawn(
  trx: DispatchTrx,
  root: string,
  offers: readonly OfferRow[],
  reason: WithdrawalReason,
  at: Date,
): Promise<void> {
  if (offers.length === 0) return;
  await enqueueEvents(
    trx,
    offers.map((offer) => ({
      subject: subjectFor(root, OFFER_WITHDRAWN_EVENT),
      type: OFFER_WITHDRAWN_EVENT,
      subjectId: offer.id,
      sequence: SEQ.closed + (offer.round - 1) * 2,
      occurredAt: at,
      payloadType: "weelo.dispatch.v1.OfferWithdrawn",
      payload: OfferWithdrawn.encode({
        offerId: offer.id,
        orderId: offer.order_id,
        transporterId: offer.transporter_id,
        reason: reasonToProto(reason),
        occurredAt: at,
      }).finish(),
    })),
  );
}

export async function recordOfferAccepted(
  trx: DispatchTrx,
  root: string,
  offer: OfferRow,
  accepted: { bookingIds: string[]; openAfter: number; assignBy: Date; at: Date },
): Promise<void> {
  const payload = OfferAccepted.encode({
    offerId: offer.id,
    orderId: offer.order_id,
    transporterId: offer.transporter_id,
    bookingIds: accepted.bookingIds,
    vehicleCountOpen: accepted.openAfter,
    assignBy: accepted.assignBy,
    occurredAt: accepted.at,
  }).finish();
  await enqueueEvent(trx, {
    subject: subjectFor(root, OFFER_ACCEPTED_EVENT),
    type: OFFER_ACCEPTED_EVENT,
    subjectId: offer.id,
    sequence: SEQ.closed + (offer.round - 1) * 2,
    occurredAt: accepted.at,
    payloadType: "weelo.dispatch.v1.OfferAccepted",
    payload,
  });
}

/** Publishes offers (new, changed or closed) to their transporters' live streams, on any replica. */
export function publishOffers(bus: Pick<Bus, "publish">, root: string, offers: readonly Offer[]): void {
  for (const offer of offers)
    bus.publish(liveSubject(root, offer.transporterId), OfferNotice.encode({ offer }).finish());
}
