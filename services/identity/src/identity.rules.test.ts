import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidArgumentError } from "@weelo/errors";
import {
  generateOtp,
  gstinCheckCharacter,
  hashOtp,
  maskPhone,
  normalizeIndianPhone,
  otpMatches,
  validateEmail,
  validateGstin,
  validateName,
} from "./identity.rules.js";

describe("identity rules", () => {
  it("normalizes Indian mobile numbers to E.164", () => {
    for (const input of [
      "9876543210",
      "+919876543210",
      "919876543210",
      "09876543210",
      "98765 43210",
      "+91-98765-43210",
    ]) {
      assert.equal(normalizeIndianPhone(input), "+919876543210", input);
    }
  });

  it("refuses anything that is not an Indian mobile number, naming the field", () => {
    for (const input of ["", "12345", "5876543210", "+1 415 555 0100", "98765432100", "+92 9876543210", "98765abcde"]) {
      assert.throws(
        () => normalizeIndianPhone(input),
        (error: unknown) =>
          error instanceof InvalidArgumentError && error.field === "phone" && error.reason === "PHONE_INVALID",
        input,
      );
    }
  });

  it("masks phones for logs", () => {
    assert.equal(maskPhone("+919876543210"), "+9198*****10");
  });

  it("makes six-digit OTPs, hashed and bound to phone and role", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const otp = generateOtp();
      assert.match(otp, /^\d{6}$/);
      seen.add(otp);
    }
    assert.ok(seen.size > 190, "OTPs are not repeating");
    const hash = hashOtp("secret-1234567890", "+919876543210", "customer", "123456");
    assert.ok(!hash.includes("123456"));
    assert.ok(otpMatches("secret-1234567890", "+919876543210", "customer", "123456", hash));
    assert.ok(!otpMatches("secret-1234567890", "+919876543210", "customer", "123457", hash));
    assert.ok(
      !otpMatches("secret-1234567890", "+919876543210", "driver", "123456", hash),
      "another role's OTP does not match",
    );
    assert.ok(!otpMatches("another-secret-123", "+919876543210", "customer", "123456", hash));
  });

  it("validates GSTINs by format, state code and check character", () => {
    assert.equal(gstinCheckCharacter("27AAPFU0939F1Z"), "V");
    assert.equal(validateGstin(" 27aapfu0939f1zv "), "27AAPFU0939F1ZV");
    assert.equal(validateGstin(""), "", "empty clears");
    for (const bad of ["27AAPFU0939F1ZX", "27AAPFU0939F1Z", "2AAPFU0939F1ZVV", "00AAPFU0939F1ZV", "27AAPFU0939F1YV"]) {
      assert.throws(
        () => validateGstin(bad),
        (error: unknown) => error instanceof InvalidArgumentError && error.field === "gstin",
        bad,
      );
    }
  });

  it("cleans names and emails", () => {
    assert.equal(validateName("  Ravi   Kumar "), "Ravi Kumar");
    assert.throws(() => validateName("   "), InvalidArgumentError);
    assert.throws(() => validateName("<script>"), InvalidArgumentError);
    assert.equal(validateEmail(" Ravi@Example.COM "), "ravi@example.com");
    assert.equal(validateEmail(""), "");
    assert.throws(() => validateEmail("ravi@"), InvalidArgumentError);
  });
});
