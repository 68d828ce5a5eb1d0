/** The gateway's settings, on top of the settings every process shares. */
import { baseConfigSchema, envBoolean, envInt, envOptional, loadConfig, z, type ProductionRule } from "@weelo/config";

export const gatewayConfigSchema = baseConfigSchema.extend({
  /** The one public port: Connect, gRPC, gRPC-Web, REST aliases, health and metrics. */
  PORT: envInt(3000, 0, 65535),
  HOST: z.string().default("0.0.0.0"),
  /** Where the identity service answers gRPC; unset means this process's own gRPC port. */
  IDENTITY_GRPC_URL: envOptional(),
  /** Where the fleet service answers gRPC; unset means this process's own gRPC port. */
  FLEET_GRPC_URL: envOptional(),
  /** Where the pricing service answers gRPC; unset means this process's own gRPC port. */
  PRICING_GRPC_URL: envOptional(),
  /** Where the booking service answers gRPC; unset means this process's own gRPC port. */
  BOOKING_GRPC_URL: envOptional(),
  /** Where the tracking service answers gRPC; unset means this process's own gRPC port. */
  TRACKING_GRPC_URL: envOptional(),
  /** Deadline given to an upstream call when the client set none (ms). */
  UPSTREAM_DEADLINE_MS: envInt(10_000, 100),
  /** Largest request body accepted (bytes). */
  BODY_LIMIT_BYTES: envInt(1024 * 1024, 1024, 64 * 1024 * 1024),
  /** Comma-separated browser origins allowed by CORS; "*" allows any (development). */
  CORS_ORIGINS: z.string().default("*"),
  /** Trust X-Forwarded-For from a load balancer in front of the gateway. */
  TRUST_PROXY: envBoolean(false),
});

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;

export const gatewayProductionRules: ProductionRule<GatewayConfig>[] = [
  (c) => (c.CORS_ORIGINS.trim() === "*" ? "CORS_ORIGINS=* lets any website call the API; list the allowed origins" : undefined),
];

export function loadGatewayConfig(env: Record<string, string | undefined> = process.env): Readonly<GatewayConfig> {
  return loadConfig(gatewayConfigSchema, env, gatewayProductionRules);
}
