/**
 * Starts the notification service alone for a test, with a fake identity on the mesh (the
 * contacts of ContactDirectoryService, held by the test): a real platform (embedded defaults, or
 * the real Postgres/Redis/NATS when their URLs are set) in fresh schemas, key prefix and
 * streams, with a recording push sender and SMS sender, clients, helpers to log users in and
 * to publish events as their producers do. stop() leaves nothing behind. Identity itself, and
 * notification with it, run together in the system's suites (system/src/e2e).
 */
import { v7 as uuidv7 } from "uuid";
import { TokenIssuer } from "@weelo/auth";
import type { Consumer, EventMessage } from "@weelo/bus";
import { Language } from "@weelo/contracts/grpc/weelo/common/v1/common";
import { EventEnvelope } from "@weelo/contracts/grpc/weelo/events/v1/envelope";
import {
  ContactDirectoryServiceService,
  type GetContactResponse,
} from "@weelo/contracts/grpc/weelo/identity/v1/contact_directory_service";
import { NotificationServiceService } from "@weelo/contracts/grpc/weelo/notification/v1/notification_service";
import { NotFoundError } from "@weelo/errors";
import { createClient, createMeshClient, EPHEMERAL_LOOPBACK, type CallOptions, type ServiceClient } from "@weelo/grpc";
import { createPlatform, type Platform } from "@weelo/runtime";
import { isolatedTestEnvironment } from "@weelo/testing";
import { fakeService, startFakeUpstream, type FakeUpstream } from "@weelo/testing/fake-upstream";
import { loadNotificationConfig, type NotificationConfig } from "./notification.config.js";
import { startNotification, type NotificationModule } from "./notification.module.js";
import type { PushOutcome } from "./notification.rules.js";
import { PushUnavailableError, type PushMessage, type PushSender } from "./senders/push-sender.js";
import type { SmsSender } from "./senders/sms-sender.js";

/**
 * A push provider whose answer depends on the token: "ok-…" delivered, "gone-…" reported
 * dead, "down-…" failing every time, "flaky<N>-…" failing its first N sends.
 */
export class RecordingPushSender implements PushSender {
  readonly name = "recording";
  readonly sent: { tokens: string[]; message: PushMessage; delivered: boolean }[] = [];
  private readonly tries = new Map<string, number>();

  async send(tokens: readonly string[], message: PushMessage): Promise<PushOutcome> {
    const outcome: PushOutcome = { delivered: 0, invalidTokens: [], failed: 0 };
    for (const token of tokens) {
      const n = (this.tries.get(token) ?? 0) + 1;
      this.tries.set(token, n);
      const flaky = /^flaky(\d+)-/.exec(token);
      if (token.startsWith("gone-")) outcome.invalidTokens.push(token);
      else if (token.startsWith("down-") || (flaky && n <= Number(flaky[1]))) outcome.failed++;
      else outcome.delivered++;
    }
    this.sent.push({ tokens: [...tokens], message, delivered: outcome.delivered > 0 });
    if (outcome.delivered === 0 && outcome.failed > 0)
      throw new PushUnavailableError("stand-in provider failing", outcome);
    return outcome;
  }

  /** Pushes that reached a device, for one event and kind. */
  delivered(eventId: string, kind?: string) {
    return this.sent.filter(
      (s) => s.delivered && s.message.data.event_id === eventId && (!kind || s.message.data.kind === kind),
    );
  }

  attempts(eventId: string) {
    return this.sent.filter((s) => s.message.data.event_id === eventId);
  }

  async close(): Promise<void> {}
}

export class RecordingSmsSender implements SmsSender {
  readonly name = "recording";
  readonly sent: { phone: string; text: string }[] = [];
  async sendText(phone: string, text: string): Promise<void> {
    this.sent.push({ phone, text });
  }
}

export interface TestUser {
  id: string;
  phone: string;
  auth: CallOptions;
  /** The registered push tokens (the given names, made as long as FCM tokens must be). */
  tokens: string[];
}

/** A push token of the given name (its prefix says how the recording sender answers). */
export const pushToken = (name: string) => `${name}.fcm-registration-token`;

export interface TestNotification {
  platform: Platform;
  config: Readonly<NotificationConfig>;
  notification: NotificationModule;
  push: RecordingPushSender;
  sms: RecordingSmsSender;
  inbox: ServiceClient<typeof NotificationServiceService>;
  /** The fake identity's ContactDirectoryService, as notification reaches it. */
  contacts: ServiceClient<typeof ContactDirectoryServiceService>;
  /** The fake identity: down() takes it off its address, up() brings it back there with the same contacts. */
  identity: { down(): Promise<void>; up(): Promise<void> };
  /** A logged-in user with these push tokens and language. */
  user(
    role: "customer" | "transporter" | "driver",
    options?: { tokens?: string[]; hindi?: boolean },
  ): Promise<TestUser>;
  /** Publishes an event the way its producer does (an EventEnvelope, message id = event id unless msgId is given). */
  publish(
    source: "booking" | "tracking" | "dispatch",
    type: string,
    payload: { typeName: string; bytes: Uint8Array },
    options?: { eventId?: string; msgId?: string; subjectId?: string; occurredAt?: Date },
  ): Promise<string>;
  /** Dead letters seen so far (the test's DLQ stream is consumed from the start). */
  deadLetters: EventMessage[];
  /** Events the consumers finished, by outcome (from weelo_notification_events_total). */
  handled(outcome: string): Promise<number>;
  stop(): Promise<void>;
}

let phoneCounter = 0;
function uniquePhone(): string {
  phoneCounter += 1;
  return `+919${String((process.pid % 100_000) * 10_000 + phoneCounter)
    .padStart(9, "0")
    .slice(-9)}`;
}

/** configuredPush: use the push sender the configuration names (e.g. FCM against a stand-in) instead of the recording one. */
export async function startTestNotification(
  options: { env?: Record<string, string>; configuredPush?: boolean } = {},
): Promise<TestNotification> {
  const isolated = await isolatedTestEnvironment();
  const suffix = isolated.suffix;
  const env: Record<string, string | undefined> = {
    ...isolated.env,
    BOOKING_STREAM: `T_BOOKING_${suffix}`,
    BOOKING_SUBJECT_ROOT: `t_${suffix}_booking`,
    TRACKING_STREAM: `T_TRACKING_${suffix}`,
    TRACKING_SUBJECT_ROOT: `t_${suffix}_tracking`,
    DISPATCH_STREAM: `T_DISPATCH_${suffix}`,
    DISPATCH_SUBJECT_ROOT: `t_${suffix}_dispatch`,
    NOTIFY_DLQ_STREAM: `T_NOTIFY_DLQ_${suffix}`,
    NOTIFY_SUBJECT_ROOT: `t_${suffix}_notification`,
    NOTIFY_RETRY_MS: "50",
    NOTIFY_MAX_DELIVER: "3",
    NOTIFY_STREAM_WAIT_MS: "100",
    ...options.env,
  };
  const config = loadNotificationConfig(env);
  const platform = await createPlatform(config, { name: "notification-test" });
  const push = new RecordingPushSender();
  const sms = new RecordingSmsSender();
  const deadLetters: EventMessage[] = [];
  const clients: { close(): void }[] = [];
  let dlqConsumer: Consumer | undefined;
  let identity: FakeUpstream | undefined;
  const cleanup = async () => {
    for (const client of clients) client.close();
    await dlqConsumer?.stop();
    await platform.shutdown();
    for (const stream of [
      config.BOOKING_STREAM,
      config.TRACKING_STREAM,
      config.DISPATCH_STREAM,
      config.NOTIFY_DLQ_STREAM,
    ])
      await platform.bus.deleteStream(stream).catch(() => false);
    await identity?.stop();
    await isolated.cleanup(["notification"]);
  };
  try {
    // The producers' streams, as booking and tracking create them.
    await platform.bus.ensureStream({ name: config.BOOKING_STREAM, subjects: [`${config.BOOKING_SUBJECT_ROOT}.>`] });
    await platform.bus.ensureStream({ name: config.TRACKING_STREAM, subjects: [`${config.TRACKING_SUBJECT_ROOT}.>`] });
    await platform.bus.ensureStream({ name: config.DISPATCH_STREAM, subjects: [`${config.DISPATCH_SUBJECT_ROOT}.>`] });
    // Identity's contacts, as its ContactDirectoryService answers them (NOT_FOUND for an unknown user).
    const directory = new Map<string, GetContactResponse>();
    const identityService = fakeService(ContactDirectoryServiceService, {
      getContact: ({ userId }) => {
        const contact = directory.get(userId);
        if (!contact) throw new NotFoundError("no such user", { reason: "USER_NOT_FOUND" });
        return contact;
      },
      removePushTokens: ({ userId, pushTokens }) => {
        const contact = directory.get(userId);
        if (!contact) return { removed: 0 };
        const kept = contact.pushTokens.filter((token) => !pushTokens.includes(token));
        const removed = contact.pushTokens.length - kept.length;
        contact.pushTokens = kept;
        return { removed };
      },
    });
    identity = await startFakeUpstream([identityService], { mesh: platform.mesh });
    const identityAddress = identity.address;
    const identityPort = identity.port;
    const notification = await startNotification(platform, config, {
      ...(options.configuredPush ? {} : { push }),
      sms,
      identityAddress: () => identityAddress,
    });
    const ports = await platform.grpc.listen(EPHEMERAL_LOOPBACK);
    await notification.start();
    await notification.consumers.ready();
    dlqConsumer = await platform.bus.consume({
      stream: config.NOTIFY_DLQ_STREAM,
      durable: "test-dlq",
      handler: (msg) => void deadLetters.push(msg),
    });

    const target = `127.0.0.1:${ports.publicPort}`;
    const clientOptions = { deadlineMs: 10_000 };
    const inbox = createClient(NotificationServiceService, target, clientOptions);
    // ContactDirectoryService is internal: over the mesh with notification's certificate.
    const contacts = createMeshClient(ContactDirectoryServiceService, identityAddress, {
      ...clientOptions,
      mesh: platform.mesh,
      caller: "notification",
    });
    clients.push(inbox, contacts);
    const issuer = new TokenIssuer(platform.keys);
    const roots = {
      booking: config.BOOKING_SUBJECT_ROOT,
      tracking: config.TRACKING_SUBJECT_ROOT,
      dispatch: config.DISPATCH_SUBJECT_ROOT,
    };
    return {
      platform,
      config,
      notification,
      push,
      sms,
      inbox,
      contacts,
      identity: {
        down: async () => identity?.stop(),
        async up() {
          identity = await startFakeUpstream([identityService], { mesh: platform.mesh, port: identityPort });
        },
      },
      deadLetters,
      async user(role, userOptions = {}) {
        const id = uuidv7();
        const phone = uniquePhone();
        const { token } = await issuer.issueAccessToken({ userId: id, role, sessionId: uuidv7() });
        const tokens = (userOptions.tokens ?? []).map(pushToken);
        directory.set(id, {
          userId: id,
          phone,
          language: userOptions.hindi ? Language.LANGUAGE_HINDI : Language.LANGUAGE_ENGLISH,
          // Newest first, as identity lists them.
          pushTokens: [...tokens].reverse(),
        });
        return { id, phone, auth: { metadata: { authorization: `Bearer ${token}` } }, tokens };
      },
      async publish(source, type, payload, publishOptions = {}) {
        const eventId = publishOptions.eventId ?? uuidv7();
        const envelope = EventEnvelope.encode({
          id: eventId,
          type,
          subjectId: publishOptions.subjectId ?? uuidv7(),
          sequence: 1,
          occurredAt: publishOptions.occurredAt ?? new Date(),
          payload: { typeUrl: `type.googleapis.com/${payload.typeName}`, value: Buffer.from(payload.bytes) },
          requestId: "",
        }).finish();
        await platform.bus.publishEvent(`${roots[source]}${type.slice(type.indexOf("."))}`, envelope, {
          msgId: publishOptions.msgId ?? eventId,
        });
        return eventId;
      },
      async handled(outcome) {
        const metric = await platform.metrics.registry.getSingleMetric("weelo_notification_events_total")?.get();
        return (metric?.values ?? []).filter((v) => v.labels.outcome === outcome).reduce((sum, v) => sum + v.value, 0);
      },
      stop: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
