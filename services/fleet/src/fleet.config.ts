/** Fleet's settings, on top of the settings every process shares. */
import { baseConfigSchema, envInt, envOptional, loadConfig, natsName, z, type ProductionRule } from "@weelo/config";
import { outboxConfigShape } from "@weelo/outbox";

/**
 * The vehicle type ids of the pricing catalog (seeded by pricing's migration), used when no
 * pricing service is configured (PRICING_GRPC_URL unset and no catalog passed to startFleet).
 */
export const DEFAULT_VEHICLE_TYPE_IDS = [
  "mini_truck",
  "pickup_8ft",
  "lcv_10ft",
  "lcv_14ft",
  "lcv_17ft",
  "truck_19ft",
  "container_20ft",
  "container_32ft_sxl",
  "container_32ft_mxl",
  "trailer_40ft",
] as const;

export const fleetConfigSchema = baseConfigSchema.extend({
  /** Where the pricing service answers gRPC (host:port); vehicle types are checked against its catalog. Unset: FLEET_VEHICLE_TYPES. */
  PRICING_GRPC_URL: envOptional(),
  /** Comma-separated vehicle type ids accepted when PRICING_GRPC_URL is unset. */
  FLEET_VEHICLE_TYPES: z
    .string()
    .default(DEFAULT_VEHICLE_TYPE_IDS.join(","))
    .transform((v) =>
      v
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(
      z.array(z.string().regex(/^[a-z0-9_]{1,50}$/, "vehicle type ids are lower-case letters, digits and _")).min(1),
    ),
  /** How long the pricing catalog is trusted before it is fetched again (seconds). */
  VEHICLE_TYPES_CACHE_TTL_S: envInt(300, 1, 24 * 3600),
  /** JetStream stream holding fleet's events; tests use a unique one. */
  FLEET_STREAM: natsName("stream names").default("FLEET"),
  /** First token of fleet's event subjects (the stream stores "<root>.>"); tests use a unique one. */
  FLEET_SUBJECT_ROOT: natsName("subject tokens").default("fleet"),
  /** How long the stream keeps events (hours). */
  FLEET_STREAM_MAX_AGE_H: envInt(7 * 24, 1, 365 * 24),
  /** Booking's stream and subject root: its status events set drivers and vehicles ON_TRIP and back. */
  BOOKING_STREAM: natsName("stream names").default("BOOKING"),
  BOOKING_SUBJECT_ROOT: natsName("subject tokens").default("booking"),
  /** Durable consumer of booking's events for ON_TRIP, shared by fleet's replicas. */
  FLEET_TRIPS_CONSUMER: natsName("consumer names").default("fleet-trips"),
  ...outboxConfigShape,
});

export type FleetConfig = z.infer<typeof fleetConfigSchema>;

export const fleetProductionRules: ProductionRule<FleetConfig>[] = [];

export function loadFleetConfig(env: Record<string, string | undefined> = process.env): Readonly<FleetConfig> {
  return loadConfig(fleetConfigSchema, env, fleetProductionRules);
}
