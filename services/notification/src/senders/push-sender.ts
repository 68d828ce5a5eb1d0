/** Where pushes go: one interface, a development log sender and FCM. */
import { UnavailableError } from "@weelo/errors";
import type { Logger } from "@weelo/log";
import type { PushOutcome } from "../notification.rules.js";

export interface PushMessage {
  title: string;
  body: string;
  /** Delivered to the app with the notification (all values strings, as FCM wants). */
  data: Record<string, string>;
  /** High priority on Android and iOS (critical messages). */
  urgent: boolean;
}

export interface PushSender {
  /** Name in logs, e.g. "log" or "fcm". */
  readonly name: string;
  /**
   * Sends to every token. Resolves with what each device did; rejects with UNAVAILABLE (a
   * PushUnavailableError when some tokens were answered) when no device could be reached
   * because of the provider.
   */
  send(tokens: readonly string[], message: PushMessage): Promise<PushOutcome>;
  close(): Promise<void>;
}

/** The provider failed for every device; carries the tokens it did report as dead. */
export class PushUnavailableError extends UnavailableError {
  constructor(
    message: string,
    readonly outcome: PushOutcome,
    cause?: unknown,
  ) {
    super(message, { reason: "PUSH_UNAVAILABLE", cause });
  }
}

/** The embedded default: writes each push to the log, as if every device received it. */
export class LogPushSender implements PushSender {
  readonly name = "log";

  constructor(private readonly logger: Logger) {}

  async send(tokens: readonly string[], message: PushMessage): Promise<PushOutcome> {
    this.logger.info(
      { devices: tokens.length, title: message.title, text: message.body, data: message.data },
      `log push to ${tokens.length} device(s): ${message.title}`,
    );
    return { delivered: tokens.length, invalidTokens: [], failed: 0 };
  }

  async close(): Promise<void> {}
}
