import type { Logger } from "@weelo/log";
import type { SmsSender } from "./sms-sender.js";

/**
 * The embedded default: writes the OTP to the log instead of sending an SMS, so a developer
 * can log in with nothing else installed. Configuration refuses it in production.
 */
export class ConsoleSmsSender implements SmsSender {
  readonly name = "console";
  readonly revealsCodes = true;

  constructor(private readonly logger: Logger) {}

  async sendOtp(phone: string, otp: string): Promise<void> {
    // "message" is not a redacted key on purpose: showing the code is this sender's whole job.
    this.logger.info(
      { phone, message: `Your Weelo OTP is ${otp}` },
      `console SMS to ${phone}: OTP ${otp} (development only)`,
    );
  }
}
