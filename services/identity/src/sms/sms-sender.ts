/** Where OTP texts go. One interface, a development console sender and a real provider. */
export interface SmsSender {
  /** Name in logs and health, e.g. "console" or "msg91". */
  readonly name: string;
  /** True only for the development console sender: the OTP may be returned to the caller. */
  readonly revealsCodes: boolean;
  /** Sends the OTP to an E.164 phone; throws a DomainError (UNAVAILABLE) when it cannot. */
  sendOtp(phone: string, otp: string): Promise<void>;
}
