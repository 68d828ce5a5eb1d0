/**
 * Texts for critical messages when push did not reach the user: MSG91's Flow API (@weelo/sms,
 * shared with identity's OTPs) with a notification template (one ##message## variable).
 */
import type { Logger } from "@weelo/log";
import { sendMsg91Flow, type Msg91Settings } from "@weelo/sms";
import type { Guard } from "@weelo/resilience";

export interface SmsSender {
  readonly name: string;
  /** Sends the text to an E.164 phone; throws UNAVAILABLE when it cannot. */
  sendText(phone: string, text: string): Promise<void>;
}

/** The embedded default: writes the text to the log. */
export class LogSmsSender implements SmsSender {
  readonly name = "log";

  constructor(private readonly logger: Logger) {}

  async sendText(phone: string, text: string): Promise<void> {
    this.logger.info({ phone, text }, `log SMS to ${phone} (development only)`);
  }
}

/** The DLT-approved template has a ##message## variable. */
export type Msg91NotifySettings = Msg91Settings;

export class Msg91NotifySender implements SmsSender {
  readonly name = "msg91";

  constructor(
    private readonly settings: Msg91NotifySettings,
    private readonly guard: Guard,
  ) {}

  sendText(phone: string, text: string): Promise<void> {
    return sendMsg91Flow(this.settings, this.guard, phone, { message: text });
  }
}
