/**
 * Indian data formats that several services read the same way. A format, not a business
 * rule: what counts as an Indian mobile number is the same for a login, a driver's record
 * and an address contact.
 */
import { InvalidArgumentError } from "@weelo/errors";

/**
 * Indian mobile numbers: ten digits starting 6–9, written bare, with +91 / 91, or with a
 * leading 0; spaces and dashes are tolerated. Returns E.164 (+91XXXXXXXXXX).
 */
export function normalizeIndianPhone(input: string, field = "phone"): string {
  const compact = input.replace(/[\s-]/g, "");
  const match = /^(?:\+91|91|0)?([6-9]\d{9})$/.exec(compact);
  if (!match) {
    throw new InvalidArgumentError(field, `${field} must be an Indian mobile number like 9876543210 or +919876543210`, {
      reason: "PHONE_INVALID",
    });
  }
  return `+91${match[1]}`;
}

/** A phone shown in logs: enough to correlate, not enough to call. */
export function maskPhone(e164: string): string {
  return `${e164.slice(0, 5)}*****${e164.slice(-2)}`;
}
