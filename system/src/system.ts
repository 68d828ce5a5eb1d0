/**
 * The whole system in one process (the embedded default, and what tests and benchmarks
 * start): one platform, every service on one gRPC server, and the gateway in front of it.
 */
import { loadConfig, type ProductionRule } from "@weelo/config";
import { bookingConfigSchema, bookingProductionRules, startBooking } from "@weelo/booking";
import { fleetConfigSchema, fleetProductionRules, startFleet } from "@weelo/fleet";
import {
  createFleetDriverDirectory,
  identityConfigSchema,
  identityProductionRules,
  identityRules,
  startIdentity,
} from "@weelo/identity";
import { requirePrincipal } from "@weelo/grpc";
import { pricingConfigSchema, pricingProductionRules, pricingRules, startPricing } from "@weelo/pricing";
import { startTracking, trackingConfigSchema, trackingRules, type TrackingModule } from "@weelo/tracking";
import {
  notificationConfigSchema,
  notificationProductionRules,
  notificationRules,
  startNotification,
} from "@weelo/notification";
import type { Logger } from "@weelo/log";
import { createPlatform, type Platform } from "@weelo/runtime";
import { dispatchConfigSchema, startDispatch } from "@weelo/dispatch";
import { opsConfigSchema, startOps } from "@weelo/ops";
import { gatewayConfigSchema, gatewayProductionRules } from "@weelo/gateway";
import { startGateway } from "@weelo/gateway";

export const systemConfigSchema = identityConfigSchema
  .extend(pricingConfigSchema.shape)
  .extend(fleetConfigSchema.shape)
  .extend(bookingConfigSchema.shape)
  .extend(trackingConfigSchema.shape)
  .extend(notificationConfigSchema.shape)
  .extend(dispatchConfigSchema.shape)
  .extend(opsConfigSchema.shape)
  .extend(gatewayConfigSchema.shape);
type SystemConfig = ReturnType<typeof systemConfigSchema.parse>;

export interface RunningSystem {
  platform: Platform;
  /** Base URL of the gateway, e.g. http://127.0.0.1:3000. */
  url: string;
  gatewayPort: number;
  /** The admin listener: /metrics, /health/ready with its checks, /health/detailed. */
  adminPort: number;
  /** Base URL of the admin listener, e.g. http://127.0.0.1:9464. */
  adminUrl: string;
  /** The public gRPC listener (plaintext, public services, access tokens). */
  grpcPort: number;
  /** The mesh listener (mutual TLS, every service; loopback only in this process). */
  meshPort: number;
  stop(): Promise<void>;
}

/** Services of this process that keep a database pool of their own (one schema each). */
const SERVICES_WITH_A_DATABASE = 8;

/**
 * In one process DB_POOL_MIN/MAX are the process's budget, split between the services' pools,
 * so the all-in-one holds no more Postgres connections than one service would (eight pools of
 * 50 would exceed a default server's max_connections of 100 under load).
 */
function sharePoolBudget<C extends { DB_POOL_MIN: number; DB_POOL_MAX: number }>(config: Readonly<C>): Readonly<C> {
  const max = Math.max(2, Math.floor(config.DB_POOL_MAX / SERVICES_WITH_A_DATABASE));
  return Object.freeze({
    ...config,
    DB_POOL_MAX: max,
    DB_POOL_MIN: Math.min(max, Math.ceil(config.DB_POOL_MIN / SERVICES_WITH_A_DATABASE)),
  });
}

export async function startSystem(
  env: Record<string, string | undefined> = process.env,
  options: { logger?: Logger } = {},
): Promise<RunningSystem> {
  const productionRules = [
    ...identityProductionRules,
    ...pricingProductionRules,
    ...fleetProductionRules,
    ...bookingProductionRules,
    ...notificationProductionRules,
    ...gatewayProductionRules,
  ] as ProductionRule<SystemConfig>[];
  const alwaysRules = [
    ...identityRules,
    ...pricingRules,
    ...notificationRules,
    ...trackingRules,
  ] as ProductionRule<SystemConfig>[];
  const config = sharePoolBudget(loadConfig(systemConfigSchema, env, productionRules, alwaysRules));
  const platform = await createPlatform(config, {
    name: "weelo",
    inProcessMesh: true,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  try {
    // This process's mesh port, known once it listens: pricing counts supply at tracking and booking
    // redeems quotes at pricing through it.
    let ownMeshPort = 0;
    const pricing = await startPricing(platform, config, { ownAddress: () => `127.0.0.1:${ownMeshPort}` });
    // In one process fleet reads the vehicle catalog from pricing directly (cached there).
    const fleet = await startFleet(platform, config, {
      vehicleTypes: { has: async (typeId) => (await pricing.listVehicleTypes()).some((type) => type.id === typeId) },
    });
    await startIdentity(platform, config, { drivers: createFleetDriverDirectory(fleet.directory) });
    // Booking refuses AT_PICKUP / AT_DROPOFF away from the stop by asking tracking (started next).
    let tracking: TrackingModule | undefined;
    await startBooking(platform, config, {
      ownAddress: () => `127.0.0.1:${ownMeshPort}`,
      arrivals: {
        check: async (input) => {
          if (!tracking) throw new Error("tracking is not started yet");
          await tracking.arrivals.check(input);
        },
      },
    });
    // Drivers are known to tracking by their fleet id: asked of fleet in this process.
    // (Tracking's own production rule, FLEET_GRPC_URL, is for tracking running alone.)
    // Trips follow booking's events on the bus, as in the connected mode.
    tracking = await startTracking(platform, config, {
      resolveDriver: async (ctx) => (await fleet.service.getAvailability(requirePrincipal(ctx, "driver"))).driver.id,
      // A Redis position store that lost its data is rebuilt from fleet, in this process.
      onlineDrivers: fleet.directory,
    });
    // Notification reads contacts from identity through this process's mesh port, known once it listens;
    // its event consumers start then.
    const notification = await startNotification(platform, config, {
      identityAddress: () => `127.0.0.1:${ownMeshPort}`,
    });
    // Dispatch calls booking, tracking and fleet through this process's mesh port too (clients made on
    // first call, never for port 0); its timer poller and booking consumer start once the process listens.
    await startDispatch(platform, config, { ownAddress: () => `127.0.0.1:${ownMeshPort}` });
    // The ops console's API reaches identity, booking, dispatch and tracking (and every service's
    // health) through this process's mesh port, as the ops service, like over the network.
    await startOps(platform, config, { ownAddress: () => `127.0.0.1:${ownMeshPort}` });
    // The internal plane never leaves this process's loopback, whatever MESH_HOST says.
    const { publicPort, meshPort } = await platform.listen({ meshHost: "127.0.0.1" });
    ownMeshPort = meshPort;
    await notification.start();
    // The gateway reaches the services through this process's own mesh port, with mutual TLS as
    // the gateway, exactly as it reaches them over the network in the connected mode.
    const gateway = await startGateway(platform, { ...config, MESH_PORT: meshPort });
    return {
      platform,
      url: `http://127.0.0.1:${gateway.port}`,
      gatewayPort: gateway.port,
      adminPort: gateway.adminPort,
      adminUrl: `http://127.0.0.1:${gateway.adminPort}`,
      grpcPort: publicPort,
      meshPort,
      stop: () => platform.shutdown(),
    };
  } catch (error) {
    await platform.shutdown();
    throw error;
  }
}
