/**
 * Fleet owns drivers, identity owns sessions: when a transporter removes a driver, fleet
 * writes a DriverRemoved event (outbox → JetStream) and identity, consuming it here, revokes
 * every session of the driver's account at once (refresh refused, tokens refused, streams and
 * sockets closed through the revocation notices).
 */
import { consumeWhenAvailable, type Bus, type PendingConsumer } from "@weelo/bus";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import { DriverRemoved } from "@weelo/contracts/grpc/weelo/fleet/v1/events";
import type { Logger } from "@weelo/log";
import type { IdentityService } from "./identity.service.js";

export interface DriverRemovalSettings {
  stream: string;
  subjectRoot: string;
  durable: string;
}

export function consumeDriverRemovals(
  bus: Pick<Bus, "consume">,
  identity: Pick<IdentityService, "endSessionsOfDriver">,
  settings: DriverRemovalSettings,
  logger: Logger,
): PendingConsumer {
  return consumeWhenAvailable(
    bus,
    {
      stream: settings.stream,
      durable: settings.durable,
      filterSubjects: [`${settings.subjectRoot}.driver.removed`],
      handler: async (msg) => {
        const payload = EventEnvelope.decode(msg.data).payload?.value;
        if (!payload) return;
        const removed = DriverRemoved.decode(payload);
        await identity.endSessionsOfDriver({ userId: removed.userId, phone: removed.phone });
      },
      maxDeliver: 20,
      ackWaitMs: 30_000,
      retryDelayMs: 500,
      onDeadLetter: (dead) =>
        logger.error(
          { subject: dead.subject, seq: dead.seq, reason: dead.reason },
          "a driver removal could not be applied to the driver's sessions; given up",
        ),
    },
    logger,
  );
}
