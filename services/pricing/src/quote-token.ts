/**
 * The signed quote: a compact JWS (HS256 with QUOTE_SIGNING_SECRET) that carries the quote's
 * terms: who asked, which vehicle type and how many, the points, the distance, the breakdown
 * and the totals, and when it expires. Only pricing holds the key: booking hands the token back
 * to RedeemQuote, which checks it with `verifyQuoteToken` and then against the stored quote.
 */
import { webcrypto } from "node:crypto";
import * as jose from "jose";
import { FailedPreconditionError, InvalidArgumentError, PermissionDeniedError } from "@weelo/errors";
import type { FareBreakdown } from "./pricing.rules.js";
import type { DistanceSource } from "./routing/distance.js";
import type { LatLngPoint } from "./routing/estimate.js";

/** Everything a quote says; what GetQuote returns and what its token proves. */
export interface QuoteClaims {
  quoteId: string;
  /** The customer the quote was made for (their user id). */
  customerId: string;
  vehicleType: string;
  vehicleCount: number;
  pickup: LatLngPoint;
  drop: LatLngPoint;
  /** The requested pickup time of a scheduled trip; undefined for a trip now. */
  scheduledAt: Date | undefined;
  distanceM: number;
  durationS: number;
  distanceSource: DistanceSource;
  /** The price of one vehicle. */
  perVehicle: FareBreakdown;
  /** perVehicle.totalPaise × vehicleCount. */
  orderTotalPaise: number;
  currency: "INR";
  /** Loading minutes included at each end, and the waiting charge beyond them, per vehicle. */
  freeLoadingMinutes: number;
  waitingChargePerMinutePaise: number;
  /** When the quote was made and when it stops being accepted (both on whole seconds). */
  issuedAt: Date;
  expiresAt: Date;
}

const ISSUER = "weelo-pricing";
const AUDIENCE = "weelo-booking";
/** The JWS type header: a quote token can never be mistaken for another HS256 token of the same key. */
const TOKEN_TYPE = "weelo-quote+jwt";

/**
 * The HMAC key of a secret, imported once: handing jose the raw bytes made it import a
 * CryptoKey on every quote and every booking (a tenth of the booking path's CPU).
 */
const keys = new Map<string, Promise<webcrypto.CryptoKey>>();
function keyOf(secret: string): Promise<webcrypto.CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = webcrypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    keys.set(secret, key);
  }
  return key;
}

/** Signs a quote; its `exp` is the quote's expiry. */
export async function signQuoteToken(claims: QuoteClaims, secret: string): Promise<string> {
  const quote: QuoteBody = {
    vehicleType: claims.vehicleType,
    vehicleCount: claims.vehicleCount,
    pickup: { lat: claims.pickup.lat, lng: claims.pickup.lng },
    drop: { lat: claims.drop.lat, lng: claims.drop.lng },
    scheduledAt: claims.scheduledAt ? claims.scheduledAt.toISOString() : null,
    distanceM: claims.distanceM,
    durationS: claims.durationS,
    distanceSource: claims.distanceSource,
    perVehicle: { ...claims.perVehicle },
    orderTotalPaise: claims.orderTotalPaise,
    currency: claims.currency,
    freeLoadingMinutes: claims.freeLoadingMinutes,
    waitingChargePerMinutePaise: claims.waitingChargePerMinutePaise,
  };
  return new jose.SignJWT({ quote })
    .setProtectedHeader({ alg: "HS256", typ: TOKEN_TYPE })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(claims.customerId)
    .setJti(claims.quoteId)
    .setIssuedAt(Math.floor(claims.issuedAt.getTime() / 1000))
    .setExpirationTime(Math.floor(claims.expiresAt.getTime() / 1000))
    .sign(await keyOf(secret));
}

export interface VerifyQuoteOptions {
  /** The time to check expiry against; now by default. */
  now?: Date;
  /** When given, a quote made for another customer is refused (PERMISSION_DENIED, QUOTE_NOT_YOURS). */
  customerId?: string;
  /** The request field named in errors; "quote_token" by default. */
  field?: string;
  /**
   * Accept a genuine token past its expiry (its claims are returned as they are): for a caller
   * that decides about expiry itself, as RedeemQuote does for a retry of the same order.
   */
  allowExpired?: boolean;
}

/**
 * Verifies a quote token and returns its claims. Refuses, naming the field:
 * - a token that is malformed, tampered with, or signed with another key: INVALID_ARGUMENT, reason QUOTE_INVALID;
 * - a genuine token past its expiry: FAILED_PRECONDITION, reason QUOTE_EXPIRED (get a new quote);
 * - with `customerId`, a token made for someone else: PERMISSION_DENIED, reason QUOTE_NOT_YOURS.
 * `secret` may be a list (the current key first, then earlier ones while they are rotated out).
 */
export async function verifyQuoteToken(
  token: string,
  secret: string | readonly string[],
  options: VerifyQuoteOptions = {},
): Promise<QuoteClaims> {
  const field = options.field ?? "quote_token";
  const invalid = (why: string) =>
    new InvalidArgumentError(field, `${field} is not a valid quote: ${why}; get a new quote`, {
      reason: "QUOTE_INVALID",
    });
  if (typeof token !== "string" || token.trim() === "") throw invalid("it is empty");
  const secrets = typeof secret === "string" ? [secret] : secret;
  if (secrets.length === 0) throw new Error("verifyQuoteToken needs at least one secret");

  let payload: jose.JWTPayload | undefined;
  for (const candidate of secrets) {
    try {
      ({ payload } = await jose.jwtVerify(token.trim(), await keyOf(candidate), {
        algorithms: ["HS256"],
        issuer: ISSUER,
        audience: AUDIENCE,
        typ: TOKEN_TYPE,
        requiredClaims: ["sub", "jti", "exp", "iat"],
        clockTolerance: 0,
        ...(options.now ? { currentDate: options.now } : {}),
      }));
      break;
    } catch (error) {
      if (error instanceof jose.errors.JWTExpired) {
        // The signature was good (jose checks it before the claims): the quote is genuine but old.
        if (options.allowExpired) {
          payload = jose.decodeJwt(token.trim());
          break;
        }
        throw new FailedPreconditionError("the quote has expired; get a new quote", { reason: "QUOTE_EXPIRED", field });
      }
      if (error instanceof jose.errors.JWSSignatureVerificationFailed) continue; // maybe an earlier key
      throw invalid(error instanceof jose.errors.JOSEError ? describe(error) : "it could not be read");
    }
  }
  if (!payload) throw invalid("the signature does not match");

  const claims = claimsFromPayload(payload);
  if (!claims) throw invalid("its contents are incomplete");
  if (options.customerId !== undefined && claims.customerId !== options.customerId) {
    throw new PermissionDeniedError("this quote was made for another customer", { reason: "QUOTE_NOT_YOURS", field });
  }
  return claims;
}

function describe(error: jose.errors.JOSEError): string {
  if (error instanceof jose.errors.JWTClaimValidationFailed) return `its ${error.claim} claim is wrong`;
  if (error instanceof jose.errors.JOSEAlgNotAllowed) return "it is not signed with HS256";
  return "it is not a signed quote token";
}

interface QuoteBody {
  vehicleType: string;
  vehicleCount: number;
  pickup: LatLngPoint;
  drop: LatLngPoint;
  scheduledAt: string | null;
  distanceM: number;
  durationS: number;
  distanceSource: DistanceSource;
  perVehicle: FareBreakdown;
  orderTotalPaise: number;
  currency: "INR";
  freeLoadingMinutes: number;
  waitingChargePerMinutePaise: number;
}

const BREAKDOWN_INTEGERS = [
  "baseFarePaise",
  "billableDistanceM",
  "perKmPaise",
  "distanceChargePaise",
  "nightChargeBps",
  "nightChargePaise",
  "surgeChargePaise",
  "subtotalPaise",
  "gstRateBps",
  "gstPaise",
  "totalPaise",
] as const;

/** The typed claims of a verified payload, or undefined when a part is missing or of the wrong type. */
function claimsFromPayload(payload: jose.JWTPayload): QuoteClaims | undefined {
  const body = payload.quote as Partial<QuoteBody> | undefined;
  if (!body || typeof body !== "object") return undefined;
  const isInt = (value: unknown): value is number => Number.isSafeInteger(value);
  const isPoint = (value: unknown): value is LatLngPoint =>
    typeof value === "object" &&
    value !== null &&
    Number.isFinite((value as LatLngPoint).lat) &&
    Number.isFinite((value as LatLngPoint).lng);
  const breakdown = body.perVehicle;
  if (
    typeof payload.sub !== "string" ||
    typeof payload.jti !== "string" ||
    !isInt(payload.iat) ||
    !isInt(payload.exp) ||
    typeof body.vehicleType !== "string" ||
    !isInt(body.vehicleCount) ||
    !isPoint(body.pickup) ||
    !isPoint(body.drop) ||
    (body.scheduledAt !== null && typeof body.scheduledAt !== "string") ||
    !isInt(body.distanceM) ||
    !isInt(body.durationS) ||
    (body.distanceSource !== "road_routing" && body.distanceSource !== "great_circle_estimate") ||
    !breakdown ||
    typeof breakdown !== "object" ||
    !BREAKDOWN_INTEGERS.every((key) => isInt(breakdown[key])) ||
    typeof breakdown.night !== "boolean" ||
    !Number.isFinite(breakdown.surgeMultiplier) ||
    !isInt(body.orderTotalPaise) ||
    body.currency !== "INR" ||
    !isInt(body.freeLoadingMinutes) ||
    !isInt(body.waitingChargePerMinutePaise)
  ) {
    return undefined;
  }
  const scheduledAt = body.scheduledAt === null ? undefined : new Date(body.scheduledAt);
  if (scheduledAt && Number.isNaN(scheduledAt.getTime())) return undefined;
  return {
    quoteId: payload.jti,
    customerId: payload.sub,
    vehicleType: body.vehicleType,
    vehicleCount: body.vehicleCount,
    pickup: { lat: body.pickup.lat, lng: body.pickup.lng },
    drop: { lat: body.drop.lat, lng: body.drop.lng },
    scheduledAt,
    distanceM: body.distanceM,
    durationS: body.durationS,
    distanceSource: body.distanceSource,
    perVehicle: { ...breakdown },
    orderTotalPaise: body.orderTotalPaise,
    currency: "INR",
    freeLoadingMinutes: body.freeLoadingMinutes,
    waitingChargePerMinutePaise: body.waitingChargePerMinutePaise,
    issuedAt: new Date(payload.iat * 1000),
    expiresAt: new Date(payload.exp * 1000),
  };
}
