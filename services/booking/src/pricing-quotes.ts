/**
 * The quotes booking books on: pricing's internal QuoteRedemptionService.RedeemQuote over the mesh
 * (PRICING_GRPC_URL when booking runs alone, the process's own mesh port in the all-in-one).
 * Pricing's refusals (QUOTE_ALREADY_USED, QUOTE_NOT_FOUND, QUOTE_EXPIRED, QUOTE_INVALID,
 * QUOTE_NOT_YOURS) come back as the same DomainError and reach the customer unchanged.
 */
import type { QuoteRedemptionServiceService } from "@weelo/contracts/grpc/weelo/pricing/v1/quote_redemption_service";
import { InternalError } from "@weelo/errors";
import type { ServiceClient } from "@weelo/grpc";
import type { QuoteRedemption, RedeemedQuote } from "./booking.context.js";

/** Redemption over a QuoteRedemptionService client (platform.lazyMeshClient, calling as booking). */
export function pricingQuotes(pricing: ServiceClient<typeof QuoteRedemptionServiceService>): QuoteRedemption {
  return {
    async redeem(input): Promise<RedeemedQuote> {
      const { quote } = await pricing.redeemQuote(input);
      if (!quote?.pickup || !quote.drop || !quote.perVehicle)
        throw new InternalError("pricing redeemed a quote without its terms");
      return {
        quoteId: quote.id,
        vehicleType: quote.vehicleType,
        vehicleCount: quote.vehicleCount,
        pickup: { lat: quote.pickup.lat, lng: quote.pickup.lng },
        drop: { lat: quote.drop.lat, lng: quote.drop.lng },
        scheduledAt: quote.scheduledAt,
        distanceM: quote.distanceM,
        perVehicleFarePaise: quote.perVehicle.totalPaise,
      };
    },
  };
}
