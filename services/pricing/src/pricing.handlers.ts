/** gRPC handlers of PricingService: protobuf ⇄ domain, nothing else. */
import {
  BodyType,
  DistanceSource,
  type FareBreakdown as ProtoFareBreakdown,
  type Quote as ProtoQuote,
  type VehicleType as ProtoVehicleType,
} from "@weelo/contracts/grpc/weelo/pricing/v1/pricing";
import type { PricingServiceService } from "@weelo/contracts/grpc/weelo/pricing/v1/pricing_service";
import type { QuoteRedemptionServiceService } from "@weelo/contracts/grpc/weelo/pricing/v1/quote_redemption_service";
import { requirePrincipal, type ServiceHandlers } from "@weelo/grpc";
import type { PricingService } from "./pricing.service.js";
import type { FareBreakdown } from "./pricing.rules.js";
import type { QuoteClaims } from "./quote-token.js";
import type { DistanceSource as DistanceSourceWord } from "./routing/distance.js";
import type { BodyType as BodyTypeWord, VehicleType } from "./vehicle-catalog.js";

/** Methods reachable without an access token: the catalog is public. */
export const PUBLIC_PRICING_METHODS = ["ListVehicleTypes"] as const;

export function pricingHandlers(pricing: PricingService): ServiceHandlers<typeof PricingServiceService> {
  return {
    async listVehicleTypes() {
      return { vehicleTypes: (await pricing.listVehicleTypes()).map(vehicleTypeToProto) };
    },
    async getQuote(request, ctx) {
      const { quote, token } = await pricing.getQuote(requirePrincipal(ctx, "customer"), {
        pickup: request.pickup,
        drop: request.drop,
        vehicleType: request.vehicleType,
        vehicleCount: request.vehicleCount,
        scheduledAt: request.scheduledAt,
      });
      return { quote: quoteToProto(quote), quoteToken: token };
    },
    async getQuoteById(request, ctx) {
      const { quote, token } = await pricing.getQuoteById(requirePrincipal(ctx, "customer"), request.quoteId);
      return { quote: quoteToProto(quote), quoteToken: token };
    },
  };
}

export function redemptionHandlers(pricing: PricingService): ServiceHandlers<typeof QuoteRedemptionServiceService> {
  return {
    async redeemQuote(request) {
      const { quote, redeemedAt } = await pricing.redeemQuote({
        quoteToken: request.quoteToken,
        customerId: request.customerId,
        redemptionKey: request.redemptionKey,
      });
      return { quote: quoteToProto(quote), redeemedAt };
    },
  };
}

const BODY_TYPES: Record<BodyTypeWord, BodyType> = {
  open: BodyType.BODY_TYPE_OPEN,
  closed: BodyType.BODY_TYPE_CLOSED,
  flatbed: BodyType.BODY_TYPE_FLATBED,
};

const DISTANCE_SOURCES: Record<DistanceSourceWord, DistanceSource> = {
  road_routing: DistanceSource.DISTANCE_SOURCE_ROAD_ROUTING,
  great_circle_estimate: DistanceSource.DISTANCE_SOURCE_GREAT_CIRCLE_ESTIMATE,
};

export function vehicleTypeToProto(type: VehicleType): ProtoVehicleType {
  return {
    id: type.id,
    displayName: type.displayName,
    description: type.description,
    capacityKg: type.capacityKg,
    bodyType: BODY_TYPES[type.bodyType] ?? BodyType.BODY_TYPE_UNSPECIFIED,
    body: { lengthMm: type.body.lengthMm, widthMm: type.body.widthMm, heightMm: type.body.heightMm },
    fare: { ...type.fare },
  };
}

export function quoteToProto(quote: QuoteClaims): ProtoQuote {
  return {
    id: quote.quoteId,
    vehicleType: quote.vehicleType,
    vehicleCount: quote.vehicleCount,
    pickup: { ...quote.pickup },
    drop: { ...quote.drop },
    scheduledAt: quote.scheduledAt,
    distanceM: quote.distanceM,
    durationS: quote.durationS,
    distanceSource: DISTANCE_SOURCES[quote.distanceSource] ?? DistanceSource.DISTANCE_SOURCE_UNSPECIFIED,
    perVehicle: breakdownToProto(quote.perVehicle),
    orderTotalPaise: quote.orderTotalPaise,
    currency: quote.currency,
    freeLoadingMinutes: quote.freeLoadingMinutes,
    waitingChargePerMinutePaise: quote.waitingChargePerMinutePaise,
    createdAt: quote.issuedAt,
    expiresAt: quote.expiresAt,
  };
}

function breakdownToProto(fare: FareBreakdown): ProtoFareBreakdown {
  return { ...fare };
}
