/** Notification's settings, on top of the settings every process shares. */
import { baseConfigSchema, natsName, envInt, envOptional, loadConfig, z, type ProductionRule } from "@weelo/config";

export const notificationConfigSchema = baseConfigSchema.extend({
  /** Where identity answers gRPC (contacts and push tokens); unset means this process's own gRPC port. */
  IDENTITY_GRPC_URL: envOptional(),
  /** Booking's JetStream stream and subject root (the same settings booking reads). */
  BOOKING_STREAM: natsName("stream names").default("BOOKING"),
  BOOKING_SUBJECT_ROOT: natsName("subject tokens").default("booking"),
  /** Tracking's durable event stream and subject root (geofences, driver_dark). */
  TRACKING_STREAM: natsName("stream names").default("TRACKING"),
  TRACKING_SUBJECT_ROOT: natsName("subject tokens").default("tracking"),
  /** Dispatch's durable event stream and subject root (offers). */
  DISPATCH_STREAM: natsName("stream names").default("DISPATCH"),
  DISPATCH_SUBJECT_ROOT: natsName("subject tokens").default("dispatch"),
  /** First token of the durable consumers' names ("<prefix>-booking", …); replicas with the same names share the work. */
  NOTIFY_DURABLE_PREFIX: natsName("durable names").default("notification"),
  /** The stream that keeps events given up after NOTIFY_MAX_DELIVER tries, and its subject root ("<root>.dead_letter.<subject>"). */
  NOTIFY_DLQ_STREAM: natsName("stream names").default("NOTIFICATION_DLQ"),
  NOTIFY_SUBJECT_ROOT: natsName("subject tokens").default("notification"),
  /** How long dead letters are kept (hours). */
  NOTIFY_DLQ_MAX_AGE_H: envInt(14 * 24, 1, 365 * 24),
  /** Deliveries of one event before it goes to the dead-letter stream. */
  NOTIFY_MAX_DELIVER: envInt(8, 1, 100),
  /** Delay before the first retry of a failed event, doubling each time (up to 60 s). */
  NOTIFY_RETRY_MS: envInt(2000, 1, 60_000),
  /** An event not finished within this time is delivered again (ms). */
  NOTIFY_ACK_WAIT_MS: envInt(30_000, 1000, 600_000),
  /** Events handled at once per consumer in this process. */
  NOTIFY_CONCURRENCY: envInt(8, 1, 256),
  /** While a producer's stream does not exist yet, look for it again this often (ms). */
  NOTIFY_STREAM_WAIT_MS: envInt(5000, 10, 600_000),
  /** Events older than this reach the inbox only, without push or SMS (a backlog after an outage; seconds). */
  NOTIFY_PUSH_MAX_AGE_S: envInt(3600, 1, 30 * 24 * 3600),
  /** Inbox entries are deleted this many days after they were created. */
  NOTIFY_INBOX_RETENTION_DAYS: envInt(90, 1, 3650),
  /** Delivery claims are kept this long (days): longer than any stream keeps events, so a redelivery always finds its claim. */
  NOTIFY_DELIVERY_RETENTION_DAYS: envInt(30, 1, 3650),
  /** How often each replica deletes what is past its retention (ms). */
  NOTIFY_PRUNE_INTERVAL_MS: envInt(3_600_000, 1000, 86_400_000),
  /** log (development: pushes are written to the log) or fcm (Firebase Cloud Messaging through firebase-admin). */
  PUSH_PROVIDER: z.enum(["log", "fcm"]).default("log"),
  /** Firebase project of FCM; read from the service account when unset. */
  FIREBASE_PROJECT_ID: envOptional(),
  /** The service account key (JSON text); unset means Google application default credentials (GOOGLE_APPLICATION_CREDENTIALS). */
  FIREBASE_SERVICE_ACCOUNT_JSON: envOptional(),
  /** Development and tests only: send FCM requests over plain HTTP to this host:port (a local stand-in) with a fixed token. */
  FCM_EMULATOR_HOST: envOptional(),
  /** Give up on one push provider call after this long. */
  PUSH_TIMEOUT_MS: envInt(5000, 100, 60_000),
  /** log (development: texts are written to the log) or msg91 (critical messages when push fails). */
  NOTIFY_SMS_PROVIDER: z.enum(["log", "msg91"]).default("log"),
  MSG91_BASE_URL: z.url().default("https://control.msg91.com"),
  MSG91_AUTH_KEY: envOptional(),
  /** The DLT-approved notification template, with a ##message## variable. */
  MSG91_NOTIFY_TEMPLATE_ID: envOptional(),
  /** Give up on one SMS provider call after this long. */
  SMS_TIMEOUT_MS: envInt(5000, 100, 60_000),
});

export type NotificationConfig = z.infer<typeof notificationConfigSchema>;

export const notificationProductionRules: ProductionRule<NotificationConfig>[] = [
  (c) =>
    c.PUSH_PROVIDER === "log" ? "PUSH_PROVIDER=log only writes pushes to the log; production needs fcm" : undefined,
  (c) =>
    c.NOTIFY_SMS_PROVIDER === "log"
      ? "NOTIFY_SMS_PROVIDER=log only writes texts to the log; production needs msg91"
      : undefined,
  (c) =>
    c.FCM_EMULATOR_HOST ? "FCM_EMULATOR_HOST sends pushes to a local stand-in; unset it in production" : undefined,
];

/** Notification running alone must find identity. */
export const notificationStandaloneProductionRules: ProductionRule<NotificationConfig>[] = [
  (c) =>
    !c.IDENTITY_GRPC_URL
      ? "IDENTITY_GRPC_URL must be set in production: contacts and push tokens come from identity"
      : undefined,
];

/** Problems that would fail on the first message rather than at start. */
export const notificationRules: ProductionRule<NotificationConfig>[] = [
  (c) =>
    c.PUSH_PROVIDER === "fcm" && !c.FCM_EMULATOR_HOST && !c.FIREBASE_PROJECT_ID && !c.FIREBASE_SERVICE_ACCOUNT_JSON
      ? "PUSH_PROVIDER=fcm needs FIREBASE_PROJECT_ID or FIREBASE_SERVICE_ACCOUNT_JSON"
      : undefined,
  (c) => {
    if (!c.FIREBASE_SERVICE_ACCOUNT_JSON) return undefined;
    try {
      const account = JSON.parse(c.FIREBASE_SERVICE_ACCOUNT_JSON) as Record<string, unknown>;
      return typeof account.private_key === "string" && typeof account.client_email === "string"
        ? undefined
        : "FIREBASE_SERVICE_ACCOUNT_JSON must be a service account key with private_key and client_email";
    } catch {
      return "FIREBASE_SERVICE_ACCOUNT_JSON is not valid JSON";
    }
  },
  (c) =>
    c.NOTIFY_SMS_PROVIDER === "msg91" && (!c.MSG91_AUTH_KEY || !c.MSG91_NOTIFY_TEMPLATE_ID)
      ? "NOTIFY_SMS_PROVIDER=msg91 needs MSG91_AUTH_KEY and MSG91_NOTIFY_TEMPLATE_ID"
      : undefined,
];

export function loadNotificationConfig(
  env: Record<string, string | undefined> = process.env,
): Readonly<NotificationConfig> {
  return loadConfig(
    notificationConfigSchema,
    env,
    [...notificationProductionRules, ...notificationStandaloneProductionRules],
    notificationRules,
  );
}
