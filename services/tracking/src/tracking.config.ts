/** Tracking's settings, on top of the settings every process shares. */
import {
  baseConfigSchema,
  envInt,
  envOptional,
  loadConfig,
  natsName,
  type z,
  type ProductionRule,
} from "@weelo/config";
import { outboxConfigShape } from "@weelo/outbox";

export const trackingConfigSchema = baseConfigSchema.extend({
  /** Where fleet answers gRPC: the driver's fleet id is asked there with the driver's token. Unset: the token's user id is the driver id. */
  FLEET_GRPC_URL: envOptional(),
  /** First token of fleet's event subjects; availability is read from "<root>.driver.availability". */
  FLEET_SUBJECT_ROOT: natsName("subject tokens").default("fleet"),
  /** First token of tracking's core NATS subjects ("<root>.location.<bookingId>", "<root>.command.<driverId>"). */
  TRACKING_SUBJECT_ROOT: natsName("subject tokens").default("tracking"),
  /** A fix recorded up to this far in the future is clamped to now; farther is rejected (seconds). */
  MAX_CLOCK_SKEW_S: envInt(30, 0, 3600),
  /** Fixes older than this are rejected (seconds). */
  MAX_POINT_AGE_S: envInt(24 * 3600, 60, 7 * 24 * 3600),
  /** Fixes with a worse accuracy radius are rejected (metres). */
  MAX_ACCURACY_M: envInt(100, 1, 10_000),
  /** Moving faster than this from the last accepted fix is an impossible jump (km/h). */
  MAX_TRUCK_SPEED_KMPH: envInt(150, 10, 1000),
  /** While stopped, moves shorter than this are jitter: last-seen is refreshed, no breadcrumb (metres). */
  JITTER_M: envInt(15, 0, 1000),
  /** Drivers not heard from for this long are not offered by FindNearbyDrivers (seconds). */
  STALE_AFTER_S: envInt(60, 5, 3600),
  /** H3 resolution of the nearby-driver index (7: cells of about 5 km²). */
  TRACKING_H3_RES: envInt(7, 4, 10),
  /** Largest FindNearbyDrivers radius (metres). */
  MAX_NEARBY_RADIUS_M: envInt(50_000, 100, 200_000),
  /** Largest FindNearbyDrivers limit. */
  MAX_NEARBY_LIMIT: envInt(200, 1, 1000),
  /** Breadcrumbs are written at least this often while some wait (ms); acks of trip points wait for the write. */
  BREADCRUMB_FLUSH_MS: envInt(100, 5, 10_000),
  /** A batch is written as soon as this many breadcrumbs wait. */
  BREADCRUMB_BATCH_SIZE: envInt(500, 1, 5000),
  /** Streams stop reading (backpressure) while this many breadcrumbs wait for the database. */
  BREADCRUMB_MAX_PENDING: envInt(20_000, 100, 1_000_000),
  /** Commands queued for one driver stream before it is ended with RESOURCE_EXHAUSTED. */
  STREAM_MAX_PENDING_COMMANDS: envInt(64, 1, 10_000),
  /** Messages of one stream read but not yet acked before reading pauses. */
  STREAM_MAX_IN_FLIGHT: envInt(32, 1, 10_000),
  /** Points in one request. */
  MAX_POINTS_PER_MESSAGE: envInt(500, 1, 5000),
  /** Positions a slow WatchLocation stream may hold before the oldest are dropped. */
  WATCH_MAX_PENDING: envInt(16, 1, 1000),
  /** The ops console's fleet stream sends each console at most one batch this often (ms). */
  FLEET_BATCH_MS: envInt(250, 50, 5000),
  /** Driver changes one fleet stream may hold before it is resynchronised with a new snapshot (a slow console). */
  FLEET_WATCH_MAX_PENDING: envInt(20_000, 10, 1_000_000),
  /** A fleet stream that has not taken a batch for this long is resynchronised (ms). */
  FLEET_WATCH_STALL_MS: envInt(10_000, 500, 600_000),
  /** Redis: a driver's latest-position hash expires after this long without news (seconds). */
  POSITION_TTL_S: envInt(7 * 24 * 3600, 60, 30 * 24 * 3600),
  /**
   * How often (s) tracking checks that the Redis position store still holds its marker key; one
   * replica that finds it gone rebuilds every online driver's availability from fleet
   * (store-resync.ts). 0 turns the check off.
   */
  POSITION_STORE_CHECK_S: envInt(5, 0, 3600),
  /** JetStream stream holding booking's events (booking creates it); trips are read from it. */
  BOOKING_STREAM: natsName("stream names").default("BOOKING"),
  /** First token of booking's event subjects. */
  BOOKING_SUBJECT_ROOT: natsName("subject tokens").default("booking"),
  /** Durable consumer of booking's events shared by every tracking replica (it writes the trips table). */
  TRIPS_CONSUMER: natsName("consumer names").default("tracking-trips"),
  /** JetStream stream of tracking's own events (geofences, driver_dark). */
  TRACKING_STREAM: natsName("stream names").default("TRACKING"),
  /** How long the tracking stream keeps events (hours). */
  TRACKING_STREAM_MAX_AGE_H: envInt(7 * 24, 1, 365 * 24),
  /** Every replica re-reads the active trips this often, healing any trip change it missed (seconds). */
  TRIP_RELOAD_S: envInt(60, 1, 3600),
  /** The "arriving" ring around a trip's pickup and drop (metres). */
  GEOFENCE_ARRIVING_M: envInt(500, 10, 50_000),
  /** The "arrived" ring; AT_PICKUP and AT_DROPOFF are refused farther than this (metres). */
  GEOFENCE_ARRIVED_M: envInt(100, 5, 5000),
  /** A driver on an active trip silent this long raises tracking.driver_dark (seconds). */
  DRIVER_DARK_AFTER_S: envInt(120, 5, 24 * 3600),
  /** How often one replica looks for dark drivers (seconds). */
  DRIVER_DARK_CHECK_S: envInt(15, 1, 600),
  ...outboxConfigShape,
  /** A graceful shutdown tells each driver stream to wait up to this long (spread at random) before reconnecting (ms). */
  RECONNECT_SPREAD_MS: envInt(5000, 0, 600_000),
});

export type TrackingConfig = z.infer<typeof trackingConfigSchema>;

export const trackingProductionRules: ProductionRule<TrackingConfig>[] = [
  (c) =>
    c.FLEET_GRPC_URL ? undefined : "FLEET_GRPC_URL is required in production: drivers are known by their fleet id",
];

/** Rules that hold in every environment. */
export const trackingRules: ProductionRule<TrackingConfig>[] = [
  (c) =>
    c.GEOFENCE_ARRIVED_M < c.GEOFENCE_ARRIVING_M
      ? undefined
      : "GEOFENCE_ARRIVED_M must be smaller than GEOFENCE_ARRIVING_M",
];

export function loadTrackingConfig(env: Record<string, string | undefined> = process.env): Readonly<TrackingConfig> {
  return loadConfig(trackingConfigSchema, env, trackingProductionRules, trackingRules);
}
