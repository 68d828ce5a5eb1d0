/**
 * OTPs through MSG91's Flow API (@weelo/sms), with the OTP template's ##otp## variable. Every
 * call runs behind a timeout and a circuit breaker.
 */
import { sendMsg91Flow, type Msg91Settings } from "@weelo/sms";
import type { Guard } from "@weelo/resilience";
import type { SmsSender } from "./sms-sender.js";

export type { Msg91Settings };

export class Msg91SmsSender implements SmsSender {
  readonly name = "msg91";
  readonly revealsCodes = false;

  constructor(
    private readonly settings: Msg91Settings,
    private readonly guard: Guard,
  ) {}

  sendOtp(phone: string, otp: string): Promise<void> {
    return sendMsg91Flow(
      this.settings,
      this.guard,
      phone,
      { otp },
      "the SMS provider refused the message; try again shortly",
    );
  }
}
