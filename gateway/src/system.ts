/**
 * The whole system in one process (the embedded default, and what tests and benchmarks
 * start): one platform, every service on one gRPC server, and the gateway in front of it.
 */
import { loadConfig, type ProductionRule } from "@weelo/config";
import { identityConfigSchema, identityProductionRules, identityRules, startIdentity } from "@weelo/identity";
import type { Logger } from "@weelo/log";
import { createPlatform, type Platform } from "@weelo/runtime";
import { gatewayConfigSchema } from "./gateway.config.js";
import { startGateway } from "./gateway.module.js";

export const systemConfigSchema = identityConfigSchema.extend(gatewayConfigSchema.shape);
type SystemConfig = ReturnType<typeof systemConfigSchema.parse>;

export interface RunningSystem {
  platform: Platform;
  /** Base URL of the gateway, e.g. http://127.0.0.1:3000. */
  url: string;
  gatewayPort: number;
  grpcPort: number;
  stop(): Promise<void>;
}

export async function startSystem(env: Record<string, string | undefined> = process.env, options: { logger?: Logger } = {}): Promise<RunningSystem> {
  const config = loadConfig(systemConfigSchema, env, identityProductionRules as ProductionRule<SystemConfig>[], identityRules as ProductionRule<SystemConfig>[]);
  const platform = await createPlatform(config, { name: "weelo", ...(options.logger ? { logger: options.logger } : {}) });
  try {
    await startIdentity(platform, config);
    const grpcPort = await platform.listen(config.GRPC_HOST, config.GRPC_PORT);
    // The gateway reaches the services through this process's own gRPC port, exactly as it
    // would reach them over the network in the connected mode.
    const gateway = await startGateway(platform, { ...config, GRPC_PORT: grpcPort });
    return {
      platform,
      url: `http://127.0.0.1:${gateway.port}`,
      gatewayPort: gateway.port,
      grpcPort,
      stop: () => platform.shutdown(),
    };
  } catch (error) {
    await platform.shutdown();
    throw error;
  }
}
