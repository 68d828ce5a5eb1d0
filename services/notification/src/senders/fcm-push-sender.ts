/**
 * Push through Firebase Cloud Messaging with firebase-admin (HTTP v1 API), behind a timeout
 * and circuit breaker. Tokens FCM reports as unregistered or invalid come back in the outcome
 * so the caller removes them.
 *
 * FCM_EMULATOR_HOST (development and tests; refused in production): the SDK always builds
 * https://fcm.googleapis.com/v1/projects/<id>/messages:send, so the sender switches to the
 * SDK's HTTP/1.1 transport and gives it an agent whose connections go, in plain HTTP, to the
 * stand-in at that host; the credential is a fixed token. Everything else is the SDK's own path,
 * except its own retries, which are off: the guard is the only policy (see withoutSdkRetries).
 */
import { randomUUID } from "node:crypto";
import { Agent } from "node:https";
import { connect, type Socket } from "node:net";
import {
  applicationDefault,
  cert,
  deleteApp,
  initializeApp,
  type App,
  type AppOptions,
  type Credential,
} from "firebase-admin/app";
import { getMessaging, type BatchResponse, type Messaging, type MulticastMessage } from "firebase-admin/messaging";
import type { Guard } from "@weelo/resilience";
import type { PushOutcome } from "../notification.rules.js";
import { PushUnavailableError, type PushMessage, type PushSender } from "./push-sender.js";

export interface FcmSettings {
  projectId?: string;
  /** Service account key JSON; unset means application default credentials. */
  serviceAccountJson?: string;
  /** host:port of a local stand-in of the FCM endpoint (plain HTTP). */
  emulatorHost?: string;
}

/** Error codes (firebase-admin's) that mean the token will never work again. */
const DEAD_TOKEN_CODES = new Set([
  "messaging/registration-token-not-registered",
  "messaging/invalid-registration-token",
]);

/** invalid-argument is about the token when FCM says so (else it is our message, and retrying will not help either). */
export function isDeadToken(error: { code: string; message: string }): boolean {
  if (DEAD_TOKEN_CODES.has(error.code)) return true;
  return error.code === "messaging/invalid-argument" && /registration token|message\.token/i.test(error.message);
}

/** Failures that are the message's fault, not the provider's: no retry can fix them. */
function isPermanent(error: { code: string }): boolean {
  return (
    error.code === "messaging/invalid-argument" ||
    error.code === "messaging/invalid-payload" ||
    error.code === "messaging/payload-size-limit-exceeded"
  );
}

class EmulatorAgent extends Agent {
  constructor(private readonly target: { host: string; port: number }) {
    super({ keepAlive: true });
  }
  override createConnection(): Socket {
    return connect(this.target.port, this.target.host);
  }
}

export class FcmPushSender implements PushSender {
  readonly name = "fcm";
  private readonly app: App;
  private readonly messaging: Messaging;

  constructor(
    settings: FcmSettings,
    private readonly guard: Guard,
  ) {
    const options: AppOptions = {};
    if (settings.emulatorHost) {
      const [host, port] = splitHostPort(settings.emulatorHost);
      const credential: Credential = {
        getAccessToken: async () => ({ access_token: "emulator-token", expires_in: 3600 }),
      };
      Object.assign(options, {
        credential,
        projectId: settings.projectId ?? "weelo-emulator",
        httpAgent: new EmulatorAgent({ host, port }),
      });
    } else {
      options.credential = settings.serviceAccountJson
        ? cert(JSON.parse(settings.serviceAccountJson))
        : applicationDefault();
      if (settings.projectId) options.projectId = settings.projectId;
    }
    this.app = initializeApp(options, `weelo-notification-${randomUUID()}`);
    this.messaging = getMessaging(this.app);
    withoutSdkRetries(this.messaging);
    if (settings.emulatorHost) this.messaging.enableLegacyHttpTransport();
  }

  send(tokens: readonly string[], message: PushMessage): Promise<PushOutcome> {
    if (tokens.length === 0) return Promise.resolve({ delivered: 0, invalidTokens: [], failed: 0 });
    return this.guard.execute(async () => {
      const request: MulticastMessage = {
        tokens: [...tokens],
        notification: { title: message.title, body: message.body },
        data: message.data,
        android: {
          priority: message.urgent ? "high" : "normal",
          notification: { channelId: message.urgent ? "critical" : "updates" },
        },
        apns: { headers: { "apns-priority": message.urgent ? "10" : "5" } },
      };
      let batch: BatchResponse;
      try {
        batch = await this.messaging.sendEachForMulticast(request);
      } catch (error) {
        throw new PushUnavailableError(
          "FCM could not be reached",
          { delivered: 0, invalidTokens: [], failed: tokens.length },
          error,
        );
      }
      const outcome: PushOutcome = { delivered: 0, invalidTokens: [], failed: 0 };
      let firstError: { code: string; message: string } | undefined;
      batch.responses.forEach((response, i) => {
        if (response.success) outcome.delivered++;
        else if (response.error && isDeadToken(response.error)) outcome.invalidTokens.push(tokens[i]!);
        else if (response.error && isPermanent(response.error)) {
          // The message's fault, not the device's or the provider's: neither removed nor retried.
        } else {
          outcome.failed++;
          firstError ??= response.error;
        }
      });
      if (outcome.delivered === 0 && outcome.failed > 0) {
        throw new PushUnavailableError(`FCM refused the push: ${firstError?.code ?? "unknown"}`, outcome, firstError);
      }
      return outcome;
    });
  }

  close(): Promise<void> {
    return deleteApp(this.app);
  }
}

/**
 * One retry policy for push, not two: firebase-admin's HTTP clients retry a 503 (and
 * ECONNRESET/ETIMEDOUT) up to 4 times with backoff on their own, inside our guard's timeout and
 * unseen by its circuit breaker, so a failing FCM got several POSTs per message, some after the
 * breaker had opened. firebase-admin (13.x) has no public option for this: the retry config is
 * the `retry` of the messaging request handler's two clients (HTTP/1.1 and HTTP/2), set here to
 * no retries. If a new firebase-admin moves them, this throws at start (and the sender's test
 * counts the POSTs) rather than silently retrying again. Retries belong to notification's
 * delivery: a failed delivery is redelivered by the bus (NOTIFY_RETRY_MS, NOTIFY_MAX_DELIVER).
 */
function withoutSdkRetries(messaging: Messaging): void {
  type Client = { retry?: unknown };
  const handler = (messaging as unknown as { messagingRequestHandler?: { httpClient?: Client; http2Client?: Client } })
    .messagingRequestHandler;
  const clients = [handler?.httpClient, handler?.http2Client];
  if (!clients.every((client) => client && typeof client === "object" && "retry" in client))
    throw new Error("firebase-admin's messaging clients are not where expected: cannot turn its own retries off");
  for (const client of clients as Client[]) client.retry = { maxRetries: 0, statusCodes: [], ioErrorCodes: [] };
}

function splitHostPort(value: string): [string, number] {
  const at = value.lastIndexOf(":");
  const port = Number(value.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port <= 0)
    throw new Error(`FCM_EMULATOR_HOST must be host:port, got ${value}`);
  return [value.slice(0, at), port];
}
