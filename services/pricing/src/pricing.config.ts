/** Pricing's settings, on top of the settings every process shares. */
import { baseConfigSchema, envInt, envOptional, loadConfig, natsName, z, type ProductionRule } from "@weelo/config";

export const DEV_QUOTE_SIGNING_SECRET = "development-only-quote-signing-secret-change-me";

/** A decimal number read from a string, within [min, max]. */
const envNumber = (fallback: number, min: number, max: number) => z.coerce.number().min(min).max(max).default(fallback);

/** A time of day in India time, "HH:MM" (24 hours). */
const envClockTime = (fallback: string) =>
  z
    .string()
    .trim()
    .regex(/^([01]\d|2[0-3]):[0-5]\d$/, "must be a time of day like 22:00")
    .default(fallback);

export const pricingConfigSchema = baseConfigSchema.extend({
  /** How long a quote may be booked, in seconds (10 minutes). */
  QUOTE_TTL_S: envInt(600, 60, 24 * 3600),
  /** HMAC key (HS256) of quote tokens; pricing alone holds it (booking redeems quotes here). At least 32 characters in production. */
  QUOTE_SIGNING_SECRET: z.string().min(16).default(DEV_QUOTE_SIGNING_SECRET),
  /** Quotes one customer may ask for per minute (each may cost a routing call). */
  QUOTES_PER_USER_PER_MINUTE: envInt(60, 1, 100_000),
  /** Stored quotes are deleted this many hours after they expire. */
  QUOTE_RETENTION_H: envInt(7 * 24, 1, 24 * 365),
  /** Base URL of an OSRM-compatible routing service (e.g. http://osrm:5000); unset means the great-circle estimate. */
  ROUTING_URL: envOptional(),
  /** Give up on one routing call after this long and use the estimate. */
  ROUTING_TIMEOUT_MS: envInt(2000, 50, 30_000),
  /** Seconds a road distance between the same two points is reused (0 turns the cache off). */
  ROUTE_CACHE_TTL_S: envInt(900, 0, 7 * 24 * 3600),
  /** Road distance ÷ straight-line distance of the estimate. */
  ROAD_FACTOR: envNumber(1.3, 1, 3),
  /** Average truck speed of the estimate's driving time, in km/h. */
  ESTIMATE_SPEED_KMPH: envInt(25, 5, 120),
  /** Start of the night window, India time (inclusive). */
  NIGHT_START_IST: envClockTime("22:00"),
  /** End of the night window, India time (exclusive); before the start means it crosses midnight; equal to it turns night charges off. */
  NIGHT_END_IST: envClockTime("06:00"),
  /** Night surcharge in basis points of base fare + distance charge (1000 = 10 %). */
  NIGHT_CHARGE_BPS: envInt(1000, 0, 10_000),
  /** GST rate in basis points (500 = 5 %, goods transport agency without input tax credit). */
  GST_RATE_BPS: envInt(500, 0, 2800),
  /** How strongly excess demand raises the price: multiplier = 1 + factor × (demand ÷ supply − 1). */
  SURGE_FACTOR: envNumber(0.5, 0, 10),
  /** The highest surge multiplier. */
  SURGE_CAP: envNumber(2, 1, 5),
  /** H3 resolution of the surge neighbourhood (7 ≈ 5 km² cells; the pickup's cell and its ring are counted). */
  SURGE_H3_RESOLUTION: envInt(7, 4, 10),
  /** An open booking with no closing event counts toward demand for at most this long. */
  SURGE_BOOKING_TTL_S: envInt(30 * 60, 60, 24 * 3600),
  /** An online driver with no fresh availability event counts toward supply for at most this long (in-memory supply only). */
  SURGE_DRIVER_TTL_S: envInt(10 * 60, 30, 24 * 3600),
  /** Where tracking answers gRPC (pricing running alone): surge's supply, CountAvailableDrivers. Unset: this process's own mesh port. */
  TRACKING_GRPC_URL: envOptional(),
  /** Milliseconds a supply count of one area and vehicle type is reused (0: ask tracking for every quote). */
  SURGE_SUPPLY_CACHE_MS: envInt(3000, 0, 60_000),
  /** Give up on one supply count after this long and quote without surge. */
  SURGE_SUPPLY_TIMEOUT_MS: envInt(300, 20, 10_000),
  /** First token of booking's event subjects, whose open bookings are surge's demand. */
  BOOKING_SUBJECT_ROOT: natsName("subject tokens").default("booking"),
  /** Seconds the vehicle catalog is kept in process before it is read again (fare changes in the database show after this). */
  VEHICLE_CATALOG_TTL_S: envInt(30, 0, 3600),
  /** How far ahead a trip may be scheduled, in days. */
  MAX_SCHEDULE_AHEAD_DAYS: envInt(7, 1, 90),
});

export type PricingConfig = z.infer<typeof pricingConfigSchema>;

export const pricingProductionRules: ProductionRule<PricingConfig>[] = [
  (c) =>
    c.QUOTE_SIGNING_SECRET === DEV_QUOTE_SIGNING_SECRET || c.QUOTE_SIGNING_SECRET.length < 32
      ? "QUOTE_SIGNING_SECRET must be set to a secret of at least 32 characters in production"
      : undefined,
];

/** Pricing running alone must reach tracking for surge's supply (the all-in-one uses its own mesh port). */
export const pricingStandaloneProductionRules: ProductionRule<PricingConfig>[] = [
  (c) =>
    !c.TRACKING_GRPC_URL
      ? "TRACKING_GRPC_URL must be set in production: surge counts available drivers at tracking"
      : undefined,
];

/** Configuration problems that would fail on the first quote rather than at start. */
export const pricingRules: ProductionRule<PricingConfig>[] = [
  (c) => {
    if (c.ROUTING_URL === undefined) return undefined;
    try {
      const url = new URL(c.ROUTING_URL);
      return url.protocol === "http:" || url.protocol === "https:" ? undefined : "ROUTING_URL must be an http(s) URL";
    } catch {
      return "ROUTING_URL must be an http(s) URL like http://osrm:5000";
    }
  },
];

export function loadPricingConfig(env: Record<string, string | undefined> = process.env): Readonly<PricingConfig> {
  return loadConfig(
    pricingConfigSchema,
    env,
    [...pricingProductionRules, ...pricingStandaloneProductionRules],
    pricingRules,
  );
}
