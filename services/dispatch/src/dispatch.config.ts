/** Dispatch's settings, on top of the settings every process shares. */
import { baseConfigSchema, natsName, envInt, envOptional, loadConfig, z, type ProductionRule } from "@weelo/config";
import { outboxConfigShape } from "@weelo/outbox";

export const dispatchConfigSchema = baseConfigSchema.extend({
  /** Where booking answers gRPC (BookingDispatchService); unset in the all-in-one process. */
  BOOKING_GRPC_URL: envOptional(),
  /** Where tracking answers gRPC (TrackingInternalService); unset in the all-in-one process. */
  TRACKING_GRPC_URL: envOptional(),
  /** Where fleet answers gRPC (FleetDirectoryService); unset in the all-in-one process. */
  FLEET_GRPC_URL: envOptional(),
  /** Booking's JetStream stream, read by dispatch's durable consumer. */
  BOOKING_STREAM: natsName("stream names").default("BOOKING"),
  /** First token of booking's event subjects. */
  BOOKING_SUBJECT_ROOT: natsName("subject tokens").default("booking"),
  /** JetStream stream holding dispatch's events; tests use a unique one. */
  DISPATCH_STREAM: natsName("stream names").default("DISPATCH"),
  /** First token of dispatch's subjects: events "<root>.wave_sent" …, live offers "<root>.offers.<transporterId>". */
  DISPATCH_SUBJECT_ROOT: natsName("subject tokens").default("dispatch"),
  /** Name of the durable consumer of booking's events; replicas share it. */
  DISPATCH_CONSUMER: natsName("consumer names").default("dispatch"),
  /** How long the stream keeps events (hours). */
  DISPATCH_STREAM_MAX_AGE_H: envInt(7 * 24, 1, 365 * 24),
  /** Booking events handled at once by one process. */
  DISPATCH_CONSUMER_CONCURRENCY: envInt(16, 1, 256),
  /** Radius of each broadcast wave, in km, comma separated, growing. */
  WAVE_RADII_KM: z
    .string()
    .default("3,6,10,20")
    .transform((v) => v.split(",").map((s) => Number(s.trim())))
    .pipe(
      z
        .array(z.number().positive().max(50))
        .min(1)
        .refine(
          (radii) => radii.every((r, i) => i === 0 || r > radii[i - 1]!),
          "WAVE_RADII_KM must grow from wave to wave",
        ),
    ),
  /** How long each wave lasts before the next one (and after the last, the expiry), in ms. */
  WAVE_DURATION_MS: envInt(30_000, 50, 3_600_000),
  /** An order of several trucks waits this long for all its bookings before its first wave (ms). */
  ORDER_GATHER_MS: envInt(2000, 0, 60_000),
  /** Transporters offered one order in one wave, at most. */
  MAX_OFFERS_PER_WAVE: envInt(100, 1, 1000),
  /** A transporter who accepted must assign drivers within this time or lose the bookings back to broadcast (ms). */
  ASSIGN_DEADLINE_MS: envInt(10 * 60_000, 100, 24 * 3600_000),
  /** How often the timer poller looks for due waves, deadlines and owed booking calls (ms). */
  TIMER_POLL_MS: envInt(500, 10, 60_000),
  /** A claimed wave or booking call not finished within this time is claimed again by any replica (ms). */
  CLAIM_LEASE_MS: envInt(15_000, 100, 600_000),
  /** First retry of a failed booking call; doubling up to a minute (ms). */
  BOOKING_CALL_RETRY_MS: envInt(1000, 10, 60_000),
  /** WatchOffers re-reads the transporter's open offers this often, whatever the bus said (ms): it makes up for a notice lost in a crash; every stream reads, so it stays rare. */
  WATCH_RESYNC_MS: envInt(60_000, 50, 600_000),
  /** A WatchOffers stream marks its transporter online for this long, refreshed at a third of it (ms). */
  PRESENCE_TTL_MS: envInt(30_000, 300, 600_000),
  ...outboxConfigShape,
});

export type DispatchConfig = z.infer<typeof dispatchConfigSchema>;

/** Running alone, dispatch must know where booking, tracking and fleet answer. */
export const dispatchAloneRules: ProductionRule<DispatchConfig>[] = [
  (c) => {
    const missing = (["BOOKING_GRPC_URL", "TRACKING_GRPC_URL", "FLEET_GRPC_URL"] as const).filter((k) => !c[k]);
    return missing.length > 0 ? `${missing.join(", ")} must be set when dispatch runs alone` : undefined;
  },
];

export function loadDispatchConfig(env: Record<string, string | undefined> = process.env): Readonly<DispatchConfig> {
  return loadConfig(dispatchConfigSchema, env, [], dispatchAloneRules);
}
