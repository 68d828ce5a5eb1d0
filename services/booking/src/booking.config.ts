/** Booking's settings, on top of the settings every process shares. */
import {
  baseConfigSchema,
  natsName,
  envInt,
  envOptional,
  loadConfig,
  type z,
  type ProductionRule,
} from "@weelo/config";
import { outboxConfigShape } from "@weelo/outbox";

export const bookingConfigSchema = baseConfigSchema.extend({
  /** How far the booked pickup and drop may be from the quoted ones (metres). */
  QUOTE_LOCATION_TOLERANCE_M: envInt(50, 1, 1000),
  /** Late-cancellation fee, in basis points of the booking's fare (1000 = 10 %). */
  CANCEL_FEE_PERCENT_BPS: envInt(1000, 0, 10_000),
  /** The smallest late-cancellation fee (paise); never more than the fare. */
  CANCEL_FEE_MIN_PAISE: envInt(10_000, 0, 10_000_000),
  /** Wrong pickup/delivery codes a driver may try before code entry is locked (a 4-digit code must not be guessable). */
  BOOKING_CODE_MAX_ATTEMPTS: envInt(5, 1, 100),
  /** How long code entry stays locked after too many wrong codes (minutes). */
  BOOKING_CODE_LOCK_MINUTES: envInt(15, 1, 24 * 60),
  /** A scheduled booking is broadcast to transporters this many minutes before its pickup time. */
  BROADCAST_LEAD_MINUTES: envInt(30, 0, 24 * 60),
  /** How far ahead a trip may be scheduled, in days (as pricing's MAX_SCHEDULE_AHEAD_DAYS). */
  MAX_SCHEDULE_AHEAD_DAYS: envInt(7, 1, 90),
  /** The scheduler looks for scheduled bookings due for broadcast this often (ms). */
  SCHEDULER_POLL_MS: envInt(2000, 10, 60_000),
  /** WatchBooking reads the database at least this often even when no event woke it (ms). */
  WATCH_POLL_MS: envInt(1000, 10, 60_000),
  /** JetStream stream holding booking's events; tests use a unique one. */
  BOOKING_STREAM: natsName("stream names").default("BOOKING"),
  /** First token of booking's event subjects (the stream stores "<root>.>"); tests use a unique one. */
  BOOKING_SUBJECT_ROOT: natsName("subject tokens").default("booking"),
  /** How long the stream keeps events (hours). */
  BOOKING_STREAM_MAX_AGE_H: envInt(7 * 24, 1, 365 * 24),
  /** Where tracking answers gRPC (booking running alone): AT_PICKUP / AT_DROPOFF are checked there. */
  TRACKING_GRPC_URL: envOptional(),
  /** Where pricing answers gRPC (booking running alone): each order redeems its quote there. */
  PRICING_GRPC_URL: envOptional(),
  ...outboxConfigShape,
});

export type BookingConfig = z.infer<typeof bookingConfigSchema>;

/** Production rules of booking wherever it runs (none today: quotes are pricing's to check). */
export const bookingProductionRules: ProductionRule<BookingConfig>[] = [];

/** Booking running alone must reach pricing to redeem quotes (the all-in-one uses its own gRPC port). */
export const bookingStandaloneProductionRules: ProductionRule<BookingConfig>[] = [
  (c) =>
    !c.PRICING_GRPC_URL
      ? "PRICING_GRPC_URL must be set in production: every order redeems its quote at pricing"
      : undefined,
];

export function loadBookingConfig(env: Record<string, string | undefined> = process.env): Readonly<BookingConfig> {
  return loadConfig(bookingConfigSchema, env, [...bookingProductionRules, ...bookingStandaloneProductionRules]);
}
