/**
 * Pricing's use cases: list the vehicle catalog, price a trip into a signed, stored quote,
 * and read a stored quote back. It orchestrates the rules, the catalog, the distance
 * provider, the surge inputs and the repository; the gRPC handlers only translate.
 */
import { gridDisk, latLngToCell } from "h3-js";
import { v7 as uuidv7 } from "uuid";
import type { Principal } from "@weelo/auth";
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  UnavailableError,
} from "@weelo/errors";
import type { Logger } from "@weelo/log";
import type { RateLimiter } from "@weelo/resilience";
import {
  computeFare,
  isNightTime,
  multiplierToHundredths,
  normalizeVehicleTypeId,
  orderTotalPaise,
  surgeApplies,
  surgeMultiplier,
  validateLocation,
  validateScheduledAt,
  validateTrip,
  type SurgeSettings,
} from "./pricing.rules.js";
import * as repo from "./pricing.repository.js";
import type { NewQuote, QuoteRow } from "./pricing.table.js";
import { signQuoteToken, verifyQuoteToken, type QuoteClaims } from "./quote-token.js";
import type { DistanceProvider, DistanceSource } from "./routing/distance.js";
import type { LatLngPoint } from "./routing/estimate.js";
import type { SurgeInputs } from "./surge/surge-inputs.js";
import { paise, type VehicleCatalog, type VehicleType } from "./vehicle-catalog.js";

export interface PricingSettings {
  quoteTtlMs: number;
  maxScheduleAheadMs: number;
  /** Night window in minutes after midnight, India time. */
  nightWindow: { startMinute: number; endMinute: number };
  nightChargeBps: number;
  gstRateBps: number;
  surge: SurgeSettings & { resolution: number };
  /** HS256 key of quote tokens. */
  quoteSigningSecret: string;
}

export interface PricingDeps {
  db: repo.PricingDb;
  catalog: VehicleCatalog;
  distances: DistanceProvider;
  surge: SurgeInputs;
  limits: { quotesPerUser: RateLimiter };
  settings: PricingSettings;
  logger: Logger;
  /** The clock; tests move it. */
  now?: () => Date;
}

export interface QuoteRequest {
  pickup: LatLngPoint | undefined;
  drop: LatLngPoint | undefined;
  vehicleType: string;
  vehicleCount: number;
  scheduledAt: Date | undefined;
}

/** What RedeemQuote names: the quote (its token as the app sent it), the customer, and the order's key. */
export interface RedemptionRequest {
  quoteToken: string;
  customerId: string;
  redemptionKey: string;
}

/** A redeemed quote: the terms the order is booked on, and when it was first redeemed. */
export interface RedeemedQuote {
  quote: QuoteClaims;
  redeemedAt: Date;
}

/** A quote with its signed token. */
export interface SignedQuote {
  quote: QuoteClaims;
  token: string;
}

export type PricingService = ReturnType<typeof createPricingService>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createPricingService(deps: PricingDeps) {
  const { db, catalog, distances, surge, limits, settings, logger } = deps;
  const now = deps.now ?? (() => new Date());

  async function requireVehicleType(id: string): Promise<VehicleType> {
    const type = await catalog.find(id);
    if (!type) {
      const known = (await catalog.list()).map((t) => t.id).join(", ");
      throw new InvalidArgumentError("vehicle_type", `vehicle_type "${id}" is not offered; use one of: ${known}`, {
        reason: "VEHICLE_TYPE_UNKNOWN",
      });
    }
    return type;
  }

  /** The live surge at the pickup for this vehicle type: the pickup's H3 cell and its ring. */
  async function surgeAt(
    pickup: LatLngPoint,
    vehicleType: string,
  ): Promise<{ multiplier: number; demand: number; supply: number }> {
    const cells = gridDisk(latLngToCell(pickup.lat, pickup.lng, settings.surge.resolution), 1);
    try {
      const { demand, supply } = await surge.counts(cells, vehicleType);
      return { multiplier: surgeMultiplier(demand, supply, settings.surge), demand, supply };
    } catch (error) {
      // Surge is a refinement: without its inputs the trip is priced without it, not refused.
      logger.warn({ err: error }, "surge inputs failed: quoting without surge");
      return { multiplier: 1, demand: 0, supply: 0 };
    }
  }

  return {
    /** The active catalog, smallest truck first. */
    listVehicleTypes: (): Promise<readonly VehicleType[]> => catalog.list(),

    /** Prices a trip for a customer: validates, measures, applies night and surge, signs and stores the quote. */
    async getQuote(principal: Principal, input: QuoteRequest): Promise<SignedQuote> {
      const at = now();
      const pickup = validateLocation(input.pickup, "pickup");
      const drop = validateLocation(input.drop, "drop");
      validateTrip(pickup, drop);
      const vehicleTypeId = normalizeVehicleTypeId(input.vehicleType);
      const vehicleCount = input.vehicleCount; // 1 to 20: the contract's rule, checked before the handler
      const scheduledAt = validateScheduledAt(input.scheduledAt, at, settings.maxScheduleAheadMs);
      const vehicleType = await requireVehicleType(vehicleTypeId);
      await limits.quotesPerUser.consume(principal.userId);

      const distance = await distances.measure(pickup, drop);
      const pickupAt = scheduledAt ?? at;
      const live = surgeApplies(pickupAt, at)
        ? await surgeAt(pickup, vehicleType.id)
        : { multiplier: 1, demand: 0, supply: 0 };
      const perVehicle = computeFare({
        tariff: vehicleType.fare,
        distanceM: distance.distanceM,
        night: isNightTime(pickupAt, settings.nightWindow),
        nightChargeBps: settings.nightChargeBps,
        surgeMultiplier: live.multiplier,
        gstRateBps: settings.gstRateBps,
      });

      // Whole seconds, so the stored quote, the response and the token's iat/exp agree exactly.
      const issuedAt = new Date(Math.floor(at.getTime() / 1000) * 1000);
      const quote: QuoteClaims = {
        quoteId: uuidv7(),
        customerId: principal.userId,
        vehicleType: vehicleType.id,
        vehicleCount,
        pickup,
        drop,
        scheduledAt,
        distanceM: distance.distanceM,
        durationS: distance.durationS,
        distanceSource: distance.source,
        perVehicle,
        orderTotalPaise: orderTotalPaise(perVehicle.totalPaise, vehicleCount),
        currency: "INR",
        freeLoadingMinutes: vehicleType.fare.freeLoadingMinutes,
        waitingChargePerMinutePaise: vehicleType.fare.waitingChargePerMinutePaise,
        issuedAt,
        expiresAt: new Date(issuedAt.getTime() + Math.ceil(settings.quoteTtlMs / 1000) * 1000),
      };
      const token = await signQuoteToken(quote, settings.quoteSigningSecret);
      await repo.insertQuote(db, quoteToRow(quote, token));
      // Customers quote often (every change of a field in the app): debug, not info.
      logger.debug(
        {
          quoteId: quote.quoteId,
          customerId: quote.customerId,
          vehicleType: quote.vehicleType,
          vehicleCount,
          distanceM: quote.distanceM,
          distanceSource: quote.distanceSource,
          night: perVehicle.night,
          surge: perVehicle.surgeMultiplier,
          demand: live.demand,
          supply: live.supply,
          orderTotalPaise: quote.orderTotalPaise,
        },
        "quote given",
      );
      return { quote, token };
    },

    /** One of the caller's quotes, exactly as it was given (expired ones too, until they are purged). */
    async getQuoteById(principal: Principal, quoteId: string): Promise<SignedQuote> {
      const id = quoteId.trim();
      if (!UUID.test(id))
        throw new InvalidArgumentError("quote_id", "quote_id must be the id GetQuote returned", {
          reason: "QUOTE_ID_INVALID",
        });
      const row = await repo.findCustomerQuote(db, id.toLowerCase(), principal.userId);
      if (!row) throw new NotFoundError("no such quote", { reason: "QUOTE_NOT_FOUND" });
      return { quote: rowToQuote(row), token: row.token };
    },

    /**
     * Marks a quote as used by one order (booking's call) and returns its stored terms. Of any
     * number of redemptions, concurrent or not, only those under the first key succeed; a quote
     * pricing never stored, another customer's, an expired unredeemed one, or one redeemed under
     * another key is refused. The token's signature is checked first (a garbled or forged token
     * is INVALID_ARGUMENT), then the stored quote decides: its token must be the one presented.
     */
    async redeemQuote(input: RedemptionRequest): Promise<RedeemedQuote> {
      const field = "quote_token";
      const customerId = input.customerId.trim().toLowerCase();
      if (!UUID.test(customerId))
        throw new InvalidArgumentError("customer_id", "customer_id must be the user id of the customer booking");
      const key = input.redemptionKey; // 1 to 200 characters: the contract's rule
      const token = input.quoteToken.trim();
      // Expiry is decided below: a retry under the same key succeeds after it.
      const claims = await verifyQuoteToken(token, settings.quoteSigningSecret, {
        customerId,
        allowExpired: true,
        field,
      });
      if (!UUID.test(claims.quoteId))
        throw new InvalidArgumentError(field, "quote_token is not a valid quote; get a new quote", {
          reason: "QUOTE_INVALID",
        });
      const id = claims.quoteId.toLowerCase();
      const at = now();
      const row = await repo.redeemQuote(db, { id, token, customerId, key, now: at });
      if (row) {
        logger.info({ quoteId: id, customerId, orderTotalPaise: row.order_total_paise }, "quote redeemed");
        return { quote: rowToQuote(row), redeemedAt: row.redeemed_at ?? at };
      }
      // Nothing matched: say why from the row as it is now.
      const stored = await repo.findQuote(db, id);
      if (!stored || stored.token !== token) {
        logger.warn({ quoteId: id, customerId }, "a quote pricing has no record of was presented for booking");
        throw new NotFoundError("pricing has no such quote; get a new quote", { reason: "QUOTE_NOT_FOUND", field });
      }
      if (stored.customer_id !== customerId)
        throw new PermissionDeniedError("this quote was made for another customer", {
          reason: "QUOTE_NOT_YOURS",
          field,
        });
      if (stored.redemption_key !== null) {
        logger.warn({ quoteId: id, customerId }, "a quote already used for an order was presented again");
        throw new FailedPreconditionError("this quote was already used for another order; get a new quote", {
          reason: "QUOTE_ALREADY_USED",
          field,
        });
      }
      if (stored.expires_at.getTime() <= at.getTime())
        throw new FailedPreconditionError("the quote has expired; get a new quote", { reason: "QUOTE_EXPIRED", field });
      throw new UnavailableError("the quote could not be redeemed; try again");
    },

    /** Deletes quotes that expired more than `retentionMs` ago; resolves to how many went. */
    purgeExpiredQuotes: (retentionMs: number): Promise<number> =>
      repo.deleteExpiredQuotes(db, new Date(now().getTime() - retentionMs)),
  };
}

function quoteToRow(quote: QuoteClaims, token: string): NewQuote {
  const fare = quote.perVehicle;
  return {
    id: quote.quoteId,
    customer_id: quote.customerId,
    vehicle_type: quote.vehicleType,
    vehicle_count: quote.vehicleCount,
    pickup_lat: quote.pickup.lat,
    pickup_lng: quote.pickup.lng,
    drop_lat: quote.drop.lat,
    drop_lng: quote.drop.lng,
    scheduled_at: quote.scheduledAt ?? null,
    distance_m: quote.distanceM,
    duration_s: quote.durationS,
    distance_source: quote.distanceSource,
    base_fare_paise: fare.baseFarePaise,
    billable_distance_m: fare.billableDistanceM,
    per_km_paise: fare.perKmPaise,
    distance_charge_paise: fare.distanceChargePaise,
    night: fare.night,
    night_charge_bps: fare.nightChargeBps,
    night_charge_paise: fare.nightChargePaise,
    surge_hundredths: multiplierToHundredths(fare.surgeMultiplier),
    surge_charge_paise: fare.surgeChargePaise,
    subtotal_paise: fare.subtotalPaise,
    gst_rate_bps: fare.gstRateBps,
    gst_paise: fare.gstPaise,
    total_per_vehicle_paise: fare.totalPaise,
    order_total_paise: quote.orderTotalPaise,
    currency: quote.currency,
    free_loading_minutes: quote.freeLoadingMinutes,
    waiting_charge_per_minute_paise: quote.waitingChargePerMinutePaise,
    token,
    created_at: quote.issuedAt,
    expires_at: quote.expiresAt,
  };
}

function rowToQuote(row: QuoteRow): QuoteClaims {
  return {
    quoteId: row.id,
    customerId: row.customer_id,
    vehicleType: row.vehicle_type,
    vehicleCount: row.vehicle_count,
    pickup: { lat: row.pickup_lat, lng: row.pickup_lng },
    drop: { lat: row.drop_lat, lng: row.drop_lng },
    scheduledAt: row.scheduled_at ?? undefined,
    distanceM: row.distance_m,
    durationS: row.duration_s,
    distanceSource: row.distance_source as DistanceSource,
    perVehicle: {
      baseFarePaise: paise(row.base_fare_paise),
      billableDistanceM: row.billable_distance_m,
      perKmPaise: paise(row.per_km_paise),
      distanceChargePaise: paise(row.distance_charge_paise),
      night: row.night,
      nightChargeBps: row.night_charge_bps,
      nightChargePaise: paise(row.night_charge_paise),
      surgeMultiplier: row.surge_hundredths / 100,
      surgeChargePaise: paise(row.surge_charge_paise),
      subtotalPaise: paise(row.subtotal_paise),
      gstRateBps: row.gst_rate_bps,
      gstPaise: paise(row.gst_paise),
      totalPaise: paise(row.total_per_vehicle_paise),
    },
    orderTotalPaise: paise(row.order_total_paise),
    currency: "INR",
    freeLoadingMinutes: row.free_loading_minutes,
    waitingChargePerMinutePaise: paise(row.waiting_charge_per_minute_paise),
    issuedAt: row.created_at,
    expiresAt: row.expires_at,
  };
}
