/** The ops service's settings, on top of the settings every process shares. */
import { baseConfigSchema, envInt, envOptional, loadConfig, type z, type ProductionRule } from "@weelo/config";

export const opsConfigSchema = baseConfigSchema.extend({
  /** Where identity answers on the mesh (AccountAdminService); unset in the all-in-one process. */
  IDENTITY_GRPC_URL: envOptional(),
  /** Where booking answers on the mesh (BookingOpsService); unset in the all-in-one process. */
  BOOKING_GRPC_URL: envOptional(),
  /** Where dispatch answers on the mesh (DispatchOpsService); unset in the all-in-one process. */
  DISPATCH_GRPC_URL: envOptional(),
  /** Where tracking answers on the mesh (TrackingInternalService); unset in the all-in-one process. */
  TRACKING_GRPC_URL: envOptional(),
  /** Where fleet answers on the mesh (its health only); unset in the all-in-one process. */
  FLEET_GRPC_URL: envOptional(),
  /** Where pricing answers on the mesh (its health only); unset in the all-in-one process. */
  PRICING_GRPC_URL: envOptional(),
  /** Where notification answers on the mesh (its health only); unset in the all-in-one process. */
  NOTIFICATION_GRPC_URL: envOptional(),
  /** How long GetServiceHealth waits for one service's health answer before calling it unreachable (ms). */
  OPS_HEALTH_TIMEOUT_MS: envInt(1000, 50, 10_000),
});

export type OpsConfig = z.infer<typeof opsConfigSchema>;

/** The services the ops service calls (and checks), with the setting naming each one's address. */
export const OPS_UPSTREAM_SETTINGS = {
  identity: "IDENTITY_GRPC_URL",
  booking: "BOOKING_GRPC_URL",
  dispatch: "DISPATCH_GRPC_URL",
  tracking: "TRACKING_GRPC_URL",
  fleet: "FLEET_GRPC_URL",
  pricing: "PRICING_GRPC_URL",
  notification: "NOTIFICATION_GRPC_URL",
} as const satisfies Record<string, keyof OpsConfig>;

export type OpsUpstream = keyof typeof OPS_UPSTREAM_SETTINGS;

/** Running alone, the ops service must know where every service answers (it calls four and checks all seven). */
export const opsAloneRules: ProductionRule<OpsConfig>[] = [
  (c) => {
    const missing = Object.values(OPS_UPSTREAM_SETTINGS).filter((key) => !c[key]);
    return missing.length > 0 ? `${missing.join(", ")} must be set when the ops service runs alone` : undefined;
  },
];

export function loadOpsConfig(env: Record<string, string | undefined> = process.env): Readonly<OpsConfig> {
  return loadConfig(opsConfigSchema, env, [], opsAloneRules);
}
