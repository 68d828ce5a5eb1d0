/**
 * MSG91 (an Indian SMS gateway with DLT-registered templates) through its Flow API:
 * POST {base}/api/v5/flow with the auth key header and the template's variables. Every call
 * runs behind a timeout and a circuit breaker.
 */
import { UnavailableError } from "@weelo/errors";
import type { Guard } from "@weelo/resilience";
import type { SmsSender } from "./sms-sender.js";

export interface Msg91Settings {
  baseUrl: string;
  authKey: string;
  /** The DLT-approved OTP template, with an ##otp## variable. */
  templateId: string;
}

export class Msg91SmsSender implements SmsSender {
  readonly name = "msg91";
  readonly revealsCodes = false;

  constructor(
    private readonly settings: Msg91Settings,
    private readonly guard: Guard,
  ) {}

  sendOtp(phone: string, otp: string): Promise<void> {
    return this.guard.execute(async (signal) => {
      let response: Response;
      try {
        response = await fetch(new URL("/api/v5/flow", this.settings.baseUrl), {
          method: "POST",
          headers: { authkey: this.settings.authKey, "content-type": "application/json", accept: "application/json" },
          // MSG91 wants the number without "+": 919876543210.
          body: JSON.stringify({
            template_id: this.settings.templateId,
            short_url: "0",
            recipients: [{ mobiles: phone.replace(/^\+/, ""), otp }],
          }),
          signal,
        });
      } catch (error) {
        throw new UnavailableError("the SMS provider could not be reached", { reason: "SMS_UNAVAILABLE", cause: error });
      }
      const body = (await response.json().catch(() => ({}))) as { type?: string; message?: string };
      if (!response.ok || body.type !== "success") {
        throw new UnavailableError("the SMS provider refused the message; try again shortly", {
          reason: "SMS_UNAVAILABLE",
          cause: new Error(`msg91 answered ${response.status}: ${body.message ?? "no message"}`),
        });
      }
    });
  }
}
