/**
 * Identity's business rules as plain functions: what a valid phone, OTP, email, name and
 * GSTIN are, and how OTPs are made and compared. No I/O here.
 */
import { createHmac, randomInt, timingSafeEqual } from "node:crypto";
import { InvalidArgumentError } from "@weelo/errors";
import { plainText } from "@weelo/formats";

// Phones are a shared format; re-exported so identity's rules read as one list.
export { maskPhone, normalizeIndianPhone } from "@weelo/formats";

export const OTP_LENGTH = 6;

/** A uniformly random 6-digit OTP from the CSPRNG (leading zeros allowed). */
export function generateOtp(): string {
  return randomInt(0, 10 ** OTP_LENGTH)
    .toString()
    .padStart(OTP_LENGTH, "0");
}

/** The OTP as stored: an HMAC bound to the phone and role, so a leaked store reveals no codes. */
export function hashOtp(secret: string, phone: string, role: string, otp: string): string {
  return createHmac("sha256", secret).update(`${phone}|${role}|${otp}`).digest("base64url");
}

/** Constant-time comparison of a typed OTP with the stored hash. */
export function otpMatches(secret: string, phone: string, role: string, typed: string, storedHash: string): boolean {
  const typedHash = Buffer.from(hashOtp(secret, phone, role, typed));
  const stored = Buffer.from(storedHash);
  return typedHash.length === stored.length && timingSafeEqual(typedHash, stored);
}

// How long a name, email or company name may be is its field's rule in the contract
// (weelo.common.v1.text_max_len); control characters are plainText's to refuse.
export function validateName(name: string): string {
  const trimmed = plainText(name, "name").replace(/\s+/g, " ");
  if (trimmed === "") throw new InvalidArgumentError("name", "name must not be blank");
  if (/[<>]/.test(trimmed)) throw new InvalidArgumentError("name", "name must not contain angle brackets");
  return trimmed;
}

/** Empty clears the email; otherwise a plain address check (delivery proves the rest). */
export function validateEmail(email: string): string {
  const trimmed = plainText(email, "email").toLowerCase();
  if (trimmed === "") return "";
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]{2,}$/.test(trimmed)) {
    throw new InvalidArgumentError("email", "email must look like name@example.com");
  }
  return trimmed;
}

export function validateCompanyName(name: string): string {
  return plainText(name, "company_name").replace(/\s+/g, " ");
}

const GSTIN_CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/**
 * GSTIN: 2-digit state code, the 10-character PAN, entity number, "Z", and a mod-36 check
 * character. Empty clears it. Spaces are removed and letters upper-cased.
 */
export function validateGstin(input: string): string {
  const gstin = input.replace(/\s/g, "").toUpperCase();
  if (gstin === "") return "";
  if (!/^\d{2}[A-Z]{5}\d{4}[A-Z][1-9A-Z]Z[0-9A-Z]$/.test(gstin)) {
    throw new InvalidArgumentError("gstin", "gstin must be 15 characters like 27AAPFU0939F1ZV", {
      reason: "GSTIN_INVALID",
    });
  }
  const state = Number(gstin.slice(0, 2));
  if (state < 1 || (state > 38 && state !== 97 && state !== 99)) {
    throw new InvalidArgumentError("gstin", "gstin starts with an unknown state code", { reason: "GSTIN_INVALID" });
  }
  if (gstinCheckCharacter(gstin.slice(0, 14)) !== gstin[14]) {
    throw new InvalidArgumentError("gstin", "gstin check character does not match; please re-check the number", {
      reason: "GSTIN_INVALID",
    });
  }
  return gstin;
}

/** The GSTN check character: weights alternate 1 and 2, products folded base 36. */
export function gstinCheckCharacter(first14: string): string {
  let sum = 0;
  for (let i = 0; i < first14.length; i++) {
    const product = GSTIN_CHARSET.indexOf(first14[i]!) * (i % 2 === 0 ? 1 : 2);
    sum += Math.floor(product / 36) + (product % 36);
  }
  return GSTIN_CHARSET[(36 - (sum % 36)) % 36]!;
}

export function validatePushToken(token: string): string {
  const trimmed = token.trim();
  if (trimmed.length < 16 || trimmed.length > 4096 || /\s/.test(trimmed)) {
    throw new InvalidArgumentError(
      "push_token",
      "push_token must be the FCM registration token (16 to 4096 characters, no spaces)",
    );
  }
  return trimmed;
}
