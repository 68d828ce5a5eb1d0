/**
 * @weelo/bus: one Bus interface, on NATS + JetStream when NATS_URL is set and in process
 * otherwise, with the same semantics either way (see types.ts and the contract tests).
 */
import { MemoryBus, sharedMemoryBroker } from "./memory-bus.js";
import { NatsBus } from "./nats-bus.js";
import type { Bus, BusOptions } from "./types.js";

export * from "./types.js";
export { MemoryBroker, sharedMemoryBroker } from "./memory-bus.js";
export {
  consumeWhenAvailable,
  type ConsumeWhenAvailableOptions,
  type PendingConsumer,
} from "./consume-when-available.js";
export { subjectMatches, subjectFamily } from "./subjects.js";
export { deadLetterOf } from "./delivery.js";

/**
 * Creates the bus for this process: NATS when config.NATS_URL is set (connecting in the
 * background; calls that need the server wait for it, bounded), else the in-process broker.
 */
export function createBus(options: BusOptions): Bus {
  const telemetry = { logger: options.logger, metrics: options.metrics };
  if (options.config.NATS_URL) {
    return new NatsBus({
      ...telemetry,
      servers: options.config.NATS_URL.split(",")
        .map((s) => s.trim())
        .filter(Boolean),
      service: options.service,
      connectWaitMs: options.connectWaitMs ?? 5000,
      streamReplicas: options.config.NATS_STREAM_REPLICAS ?? 1,
    });
  }
  return new MemoryBus(options.memoryBroker ?? sharedMemoryBroker(), {
    ...telemetry,
    logger: options.logger.child({ component: "bus" }),
    system: "weelo-memory",
  });
}
