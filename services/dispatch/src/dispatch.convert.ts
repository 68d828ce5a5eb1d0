/** protobuf ⇄ domain conversions of offers, shared by the handlers, the events and the live fan-out. */
import {
  OfferStatus as ProtoOfferStatus,
  WithdrawalReason as ProtoWithdrawalReason,
  type Offer,
} from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch";
import { InvalidArgumentError } from "@weelo/errors";
import type { BroadcastRow, OfferRow, OfferStatus, WithdrawalReason } from "./dispatch.table.js";

const STATUS_TO_PROTO: Record<OfferStatus, ProtoOfferStatus> = {
  open: ProtoOfferStatus.OFFER_STATUS_OPEN,
  accepted: ProtoOfferStatus.OFFER_STATUS_ACCEPTED,
  declined: ProtoOfferStatus.OFFER_STATUS_DECLINED,
  withdrawn: ProtoOfferStatus.OFFER_STATUS_WITHDRAWN,
  expired: ProtoOfferStatus.OFFER_STATUS_EXPIRED,
};

const REASON_TO_PROTO: Record<WithdrawalReason, ProtoWithdrawalReason> = {
  filled: ProtoWithdrawalReason.WITHDRAWAL_REASON_FILLED,
  cancelled: ProtoWithdrawalReason.WITHDRAWAL_REASON_CANCELLED,
  expired: ProtoWithdrawalReason.WITHDRAWAL_REASON_EXPIRED,
};

export const reasonToProto = (reason: WithdrawalReason | null): ProtoWithdrawalReason =>
  reason === null ? ProtoWithdrawalReason.WITHDRAWAL_REASON_UNSPECIFIED : REASON_TO_PROTO[reason];

/** A status filter of ListOffers: UNSPECIFIED means open offers. */
export function statusFilter(status: ProtoOfferStatus): OfferStatus {
  if (status === ProtoOfferStatus.OFFER_STATUS_UNSPECIFIED) return "open";
  const found = (Object.entries(STATUS_TO_PROTO) as [OfferStatus, ProtoOfferStatus][]).find(([, p]) => p === status);
  if (!found) throw new InvalidArgumentError("status", "status must be an OFFER_STATUS_ value");
  return found[0];
}

/** The trip and order part of an offer: what the broadcast row holds. */
export type OfferTrip = Pick<
  BroadcastRow,
  | "vehicle_type"
  | "pickup_lat"
  | "pickup_lng"
  | "drop_lat"
  | "drop_lng"
  | "pickup_city"
  | "drop_city"
  | "fare_paise"
  | "distance_m"
  | "open_trucks"
  | "vehicle_count"
  | "goods_type"
  | "weight_kg"
  | "scheduled_at"
  | "expires_at"
  | "version"
>;

export function offerToProto(offer: OfferRow, trip: OfferTrip): Offer {
  return {
    id: offer.id,
    orderId: offer.order_id,
    transporterId: offer.transporter_id,
    status: STATUS_TO_PROTO[offer.status],
    vehicleType: trip.vehicle_type,
    pickup: { lat: trip.pickup_lat, lng: trip.pickup_lng },
    drop: { lat: trip.drop_lat, lng: trip.drop_lng },
    pickupCity: trip.pickup_city,
    dropCity: trip.drop_city,
    farePaise: Number(trip.fare_paise),
    distanceM: trip.distance_m,
    vehicleCountOpen: offer.status === "open" ? trip.open_trucks : 0,
    vehicleCountTotal: trip.vehicle_count,
    goodsType: trip.goods_type,
    weightKg: trip.weight_kg,
    scheduledAt: trip.scheduled_at ?? undefined,
    wave: offer.wave,
    createdAt: offer.created_at,
    expiresAt: trip.expires_at,
    acceptedCount: offer.accepted_count,
    withdrawalReason: reasonToProto(offer.withdrawal_reason),
    version: Number(trip.version),
  };
}
