/**
 * Texts for critical messages when push did not reach the user. Identity's SmsSender is
 * bound to its OTP template (sendOtp), so this is a sibling on the same MSG91 Flow API with a
 * notification template (one ##message## variable) instead of a shared lib.
 */
import { UnavailableError } from "@weelo/errors";
import type { Logger } from "@weelo/log";
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

export interface Msg91NotifySettings {
  baseUrl: string;
  authKey: string;
  /** The DLT-approved template with a ##message## variable. */
  templateId: string;
}

export class Msg91NotifySender implements SmsSender {
  readonly name = "msg91";

  constructor(
    private readonly settings: Msg91NotifySettings,
    private readonly guard: Guard,
  ) {}

  sendText(phone: string, text: string): Promise<void> {
    return this.guard.execute(async (signal) => {
      let response: Response;
      try {
        response = await fetch(new URL("/api/v5/flow", this.settings.baseUrl), {
          method: "POST",
          headers: { authkey: this.settings.authKey, "content-type": "application/json", accept: "application/json" },
          body: JSON.stringify({
            template_id: this.settings.templateId,
            short_url: "0",
            recipients: [{ mobiles: phone.replace(/^\+/, ""), message: text }],
          }),
          signal,
        });
      } catch (error) {
        throw new UnavailableError("the SMS provider could not be reached", { reason: "SMS_UNAVAILABLE", cause: error });
      }
      const body = (await response.json().catch(() => ({}))) as { type?: string; message?: string };
      if (!response.ok || body.type !== "success") {
        throw new UnavailableError("the SMS provider refused the message", {
          reason: "SMS_UNAVAILABLE",
          cause: new Error(`msg91 answered ${response.status}: ${body.message ?? "no message"}`),
        });
      }
    });
  }
}
