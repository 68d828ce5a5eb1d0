/**
 * Dispatch's events: the durable ones written to the outbox with their change (published to
 * JetStream by the relay), and the live fan-out of offers on core NATS for WatchOffers streams.
 */
import { OfferAccepted, OfferCreated, OfferNotice, OfferWithdrawn, type Offer } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch";
import type { Bus } from "@weelo/bus";
import { enqueueEvent, outboxRow, type OutboxEvent } from "@weelo/outbox";
import { reasonToProto } from "./dispatch.convert.js";
import type { BroadcastRow, OfferRow, WithdrawalReason } from "./dispatch.table.js";
import type { DispatchTrx } from "./dispatch.repository.js";

/** Event types (the subjects under the default subject root "dispatch"). */
export const OFFER_CREATED_EVENT = "dispatch.offer_created";
export const OFFER_WITHDRAWN_EVENT = "dispatch.offer_withdrawn";
export const OFFER_ACCEPTED_EVENT = "dispatch.offer_accepted";
export const DISPATCH_EVENT_TYPES = [OFFER_CREATED_EVENT, OFFER_WITHDRAWN_EVENT, OFFER_ACCEPTED_EVENT] as const;

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

/** Offer events are numbered per offer: created 1, then accepted or withdrawn. */
const SEQ = { created: 1, closed: 2 } as const;

function offerCreatedEvent(root: string, offer: OfferRow, broadcast: BroadcastRow, bookingIds: string[]): OutboxEvent {
  const payload = OfferCreated.encode({
    offerId: offer.id,
    orderId: offer.order_id,
    bookingIds,
    transporterId: offer.transporter_id,
    vehicleType: broadcast.vehicle_type,
    pickup: { lat: broadcast.pickup_lat, lng: broadcast.pickup_lng },
    drop: { lat: broadcast.drop_lat, lng: broadcast.drop_lng },
    pickupCity: broadcast.pickup_city,
    dropCity: broadcast.drop_city,
    farePaise: Number(broadcast.fare_paise),
    vehicleCount: broadcast.open_trucks,
    expiresAt: broadcast.expires_at,
    transporterOnline: offer.transporter_online,
    wave: offer.wave,
    occurredAt: offer.created_at,
  }).finish();
  return {
    subject: subjectFor(root, OFFER_CREATED_EVENT),
    type: OFFER_CREATED_EVENT,
    subjectId: offer.id,
    sequence: SEQ.created + (offer.round - 1) * 2,
    occurredAt: offer.created_at,
    payloadType: "weelo.dispatch.v1.OfferCreated",
    payload,
  };
}

/** The outbox rows of a wave's OfferCreated events. */
export function offersCreatedRows(root: string, offers: readonly OfferRow[], broadcast: BroadcastRow, bookingIds: string[]): ReturnType<typeof outboxRow>[] {
  return offers.map((offer) => outboxRow(offerCreatedEvent(root, offer, broadcast, bookingIds)));
}

/** The OfferCreated events of a wave's offers, written in one statement. */
export async function recordOffersCreated(trx: DispatchTrx, root: string, offers: readonly OfferRow[], broadcast: BroadcastRow, bookingIds: string[]): Promise<void> {
  if (offers.length === 0) return;
  await trx.insertInto("outbox").values(offersCreatedRows(root, offers, broadcast, bookingIds)).execute();
}

export async function recordOfferWithdrawn(trx: DispatchTrx, root: string, offer: OfferRow, reason: WithdrawalReason, at: Date): Promise<void> {
  const payload = OfferWithdrawn.encode({
    offerId: offer.id,
    orderId: offer.order_id,
    transporterId: offer.transporter_id,
    reason: reasonToProto(reason),
    occurredAt: at,
  }).finish();
  await enqueueEvent(trx, {
    subject: subjectFor(root, OFFER_WITHDRAWN_EVENT),
    type: OFFER_WITHDRAWN_EVENT,
    subjectId: offer.id,
    sequence: SEQ.closed + (offer.round - 1) * 2,
    occurredAt: at,
    payloadType: "weelo.dispatch.v1.OfferWithdrawn",
    payload,
  });
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
  for (const offer of offers) bus.publish(liveSubject(root, offer.transporterId), OfferNotice.encode({ offer }).finish());
}
