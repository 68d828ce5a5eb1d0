/**
 * Wires the notification service into a process: its schema, the dead-letter stream, the
 * push and SMS senders (behind circuit breakers), identity's contact directory, the inbox
 * on the shared gRPC server, and the event consumers (started by start(), once the process
 * can reach identity). Used by this service's own main and by the all-in-one process alike.
 */
import { ContactDirectoryServiceService } from "@weelo/contracts/grpc/weelo/identity/v1/contact_directory_service";
import { NotificationServiceService } from "@weelo/contracts/grpc/weelo/notification/v1/notification_service";
import { createGuard } from "@weelo/resilience";
import type { Platform } from "@weelo/runtime";
import { Counter } from "prom-client";
import { identityContacts, type ContactDirectory } from "./contacts.js";
import type { NotificationConfig } from "./notification.config.js";
import { EventConsumers, type EventSource } from "./notification.consumers.js";
import { BOOKING_PLANNERS, DISPATCH_PLANNERS, TRACKING_PLANNERS } from "./notification.events.js";
import { notificationHandlers } from "./notification.handlers.js";
import { createNotificationService, type NotificationService } from "./notification.service.js";
import type { NotificationDatabase } from "./notification.table.js";
import { notificationMigrations } from "./migrations/index.js";
import { LogPushSender, type PushSender } from "./senders/push-sender.js";
import { LogSmsSender, Msg91NotifySender, type SmsSender } from "./senders/sms-sender.js";

export interface NotificationModuleOptions {
  /** Where identity answers gRPC when IDENTITY_GRPC_URL is unset (the all-in-one passes its own port, known after listen). */
  identityAddress?: () => string;
  /** Stand-ins for tests. */
  contacts?: ContactDirectory;
  push?: PushSender;
  sms?: SmsSender;
  now?: () => Date;
}

export interface NotificationModule {
  service: NotificationService;
  consumers: EventConsumers;
  /** The event sources consumed: booking, tracking and dispatch. */
  sources: EventSource[];
  /** Starts the event consumers (in the background: a producer's stream may not exist yet). */
  start(): Promise<void>;
}

export async function startNotification(
  platform: Platform,
  config: NotificationConfig,
  options: NotificationModuleOptions = {},
): Promise<NotificationModule> {
  const logger = platform.logger.child({ component: "notification" });
  const database = await platform.database<NotificationDatabase>("notification", notificationMigrations);
  await platform.bus.ensureStream({
    name: config.NOTIFY_DLQ_STREAM,
    subjects: [`${config.NOTIFY_SUBJECT_ROOT}.dead_letter.>`],
    maxAgeMs: config.NOTIFY_DLQ_MAX_AGE_H * 3600 * 1000,
  });

  const push = options.push ?? (await createPushSender(platform, config));
  platform.onShutdown("notification push sender", () => push.close());
  const sms = options.sms ?? createSmsSender(platform, config);
  if (push.name === "log")
    logger.info("push provider: log (no Firebase credentials configured: pushes are written to this log, not sent)");
  else logger.info({ provider: push.name, emulator: config.FCM_EMULATOR_HOST }, `push provider: ${push.name}`);
  if (sms.name === "log") logger.info("notification SMS provider: log (texts are written to this log, not sent)");

  const identity = platform.lazyMeshClient(
    ContactDirectoryServiceService,
    () => config.IDENTITY_GRPC_URL ?? options.identityAddress?.() ?? `127.0.0.1:${config.MESH_PORT}`,
    "notification",
  );

  const deliveries = new Counter({
    name: "weelo_notifications_total",
    help: "Notification deliveries by channel (push, sms), kind and outcome (sent, no_devices, failed, stale).",
    labelNames: ["channel", "kind", "outcome"] as const,
    registers: [platform.metrics.registry],
  });
  const events = new Counter({
    name: "weelo_notification_events_total",
    help: "Events the notification consumers handled, by source and outcome (delivered, retry, dead_letter, undecodable, ignored, no_recipients).",
    labelNames: ["source", "outcome"] as const,
    registers: [platform.metrics.registry],
  });

  const service = createNotificationService({
    db: database.db,
    contacts: options.contacts ?? identityContacts(() => identity),
    push,
    sms,
    logger,
    counter: deliveries,
    pushMaxAgeMs: config.NOTIFY_PUSH_MAX_AGE_S * 1000,
    retention: { inboxDays: config.NOTIFY_INBOX_RETENTION_DAYS, deliveryDays: config.NOTIFY_DELIVERY_RETENTION_DAYS },
    ...(options.now ? { now: options.now } : {}),
  });
  platform.grpc.addService(NotificationServiceService, notificationHandlers(service));

  const consumers = new EventConsumers({
    bus: platform.bus,
    service,
    logger: logger.child({ component: "notification-consumers" }),
    counter: events,
    settings: {
      durablePrefix: config.NOTIFY_DURABLE_PREFIX,
      maxDeliver: config.NOTIFY_MAX_DELIVER,
      retryMs: config.NOTIFY_RETRY_MS,
      ackWaitMs: config.NOTIFY_ACK_WAIT_MS,
      concurrency: config.NOTIFY_CONCURRENCY,
      streamWaitMs: config.NOTIFY_STREAM_WAIT_MS,
      deadLetters: { stream: config.NOTIFY_DLQ_STREAM, subjectRoot: config.NOTIFY_SUBJECT_ROOT },
    },
  });
  // Registered after the database: consumers finish their events before the database closes.
  platform.onShutdown("notification consumers", () => consumers.stop());

  // Retention: each replica prunes on its own (idempotent deletes), the first time a minute after
  // start; stopped at shutdown after a prune in progress.
  const firstPrune = setTimeout(() => pruning.kick(), Math.min(60_000, config.NOTIFY_PRUNE_INTERVAL_MS));
  firstPrune.unref();
  const pruning = platform.poll({
    name: "notification pruning",
    everyMs: config.NOTIFY_PRUNE_INTERVAL_MS,
    delayFirstRun: true,
    logger,
    task: () => service.prune(),
  });
  platform.onShutdown("notification first prune", async () => clearTimeout(firstPrune));

  const sources: EventSource[] = [
    { name: "booking", stream: config.BOOKING_STREAM, planners: BOOKING_PLANNERS },
    { name: "tracking", stream: config.TRACKING_STREAM, planners: TRACKING_PLANNERS },
    { name: "dispatch", stream: config.DISPATCH_STREAM, planners: DISPATCH_PLANNERS },
  ];
  return { service, consumers, sources, start: async () => consumers.start(sources) };
}

async function createPushSender(platform: Platform, config: NotificationConfig): Promise<PushSender> {
  if (config.PUSH_PROVIDER === "log") return new LogPushSender(platform.logger.child({ component: "push" }));
  // firebase-admin (with google-auth-library and the rest it loads) only where pushes go to FCM:
  // imported at every start, it cost a tenth of a second and ~10 MB to processes that never push.
  const { FcmPushSender } = await import("./senders/fcm-push-sender.js");
  const guard = createGuard({
    name: "push-fcm",
    logger: platform.logger,
    metrics: platform.metrics,
    timeoutMs: config.PUSH_TIMEOUT_MS,
  });
  return new FcmPushSender(
    {
      ...(config.FIREBASE_PROJECT_ID ? { projectId: config.FIREBASE_PROJECT_ID } : {}),
      ...(config.FIREBASE_SERVICE_ACCOUNT_JSON ? { serviceAccountJson: config.FIREBASE_SERVICE_ACCOUNT_JSON } : {}),
      ...(config.FCM_EMULATOR_HOST ? { emulatorHost: config.FCM_EMULATOR_HOST } : {}),
    },
    guard,
  );
}

function createSmsSender(platform: Platform, config: NotificationConfig): SmsSender {
  if (config.NOTIFY_SMS_PROVIDER === "log")
    return new LogSmsSender(platform.logger.child({ component: "notification-sms" }));
  const guard = createGuard({
    name: "sms-msg91-notify",
    logger: platform.logger,
    metrics: platform.metrics,
    timeoutMs: config.SMS_TIMEOUT_MS,
  });
  return new Msg91NotifySender(
    {
      baseUrl: config.MSG91_BASE_URL,
      authKey: config.MSG91_AUTH_KEY ?? "",
      templateId: config.MSG91_NOTIFY_TEMPLATE_ID ?? "",
    },
    guard,
  );
}
