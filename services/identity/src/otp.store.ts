/**
 * OTPs live in the shared cache (Redis in production), hashed, with a TTL: any replica can
 * verify what another sent. Wrong tries are counted atomically before comparing, so no burst
 * of parallel guesses gets more than the allowed number of comparisons.
 */
import { ResourceExhaustedError, UnauthenticatedError } from "@weelo/errors";
import { otpMatches, hashOtp } from "./identity.rules.js";

/** The part of @weelo/cache the OTP store uses. */
export interface OtpCache {
  get(key: string): Promise<string | null | undefined>;
  set(key: string, value: string, options?: { ttlMs?: number }): Promise<unknown>;
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  del(...keys: string[]): Promise<number>;
  incr(key: string, options: { ttlMs: number }): Promise<number>;
  ttlMs(key: string): Promise<number | undefined>;
}

export interface OtpSettings {
  ttlMs: number;
  maxAttempts: number;
  cooldownMs: number;
  secret: string;
}

export class OtpStore {
  constructor(
    private readonly cache: OtpCache,
    private readonly settings: OtpSettings,
  ) {}

  /** Claims the resend cooldown for this phone and role, or says how long to wait. */
  async claimCooldown(phone: string, role: string): Promise<void> {
    if (this.settings.cooldownMs === 0) return;
    const key = keys(phone, role).cooldown;
    if (await this.cache.setIfAbsent(key, "1", this.settings.cooldownMs)) return;
    const left = Math.max(1, Math.ceil(((await this.cache.ttlMs(key)) ?? this.settings.cooldownMs) / 1000));
    throw new ResourceExhaustedError(`an OTP was just sent; you can ask for another in ${left} s`, {
      reason: "OTP_COOLDOWN",
      retryAfterSeconds: left,
    });
  }

  /** Gives the cooldown back, e.g. when the SMS could not be sent. */
  async releaseCooldown(phone: string, role: string): Promise<void> {
    await this.cache.del(keys(phone, role).cooldown);
  }

  /** Stores a new OTP (replacing any older one) with a fresh attempt budget; returns its expiry. */
  async save(phone: string, role: string, otp: string): Promise<Date> {
    const k = keys(phone, role);
    await this.cache.del(k.attempts);
    await this.cache.set(k.otp, hashOtp(this.settings.secret, phone, role, otp), { ttlMs: this.settings.ttlMs });
    return new Date(Date.now() + this.settings.ttlMs);
  }

  async discard(phone: string, role: string): Promise<void> {
    const k = keys(phone, role);
    await this.cache.del(k.otp, k.attempts);
  }

  /** Accepts the OTP once; a wrong one uses up an attempt, the last wrong one burns it. */
  async consume(phone: string, role: string, typed: string): Promise<void> {
    const k = keys(phone, role);
    const stored = await this.cache.get(k.otp);
    if (!stored) throw expired();
    const attempt = await this.cache.incr(k.attempts, { ttlMs: this.settings.ttlMs });
    if (attempt > this.settings.maxAttempts) {
      await this.cache.del(k.otp);
      throw expired();
    }
    if (!otpMatches(this.settings.secret, phone, role, typed, stored)) {
      const left = this.settings.maxAttempts - attempt;
      if (left === 0) await this.cache.del(k.otp);
      throw new UnauthenticatedError(
        left === 0
          ? "wrong OTP; no attempts left, request a new OTP"
          : `wrong OTP; ${left} attempt${left === 1 ? "" : "s"} left`,
        { reason: left === 0 ? "OTP_ATTEMPTS_EXCEEDED" : "OTP_INVALID" },
      );
    }
    // Only the caller that deletes the OTP logs in: two parallel correct tries cannot both win.
    if ((await this.cache.del(k.otp)) === 0) throw expired();
    await this.cache.del(k.attempts);
  }
}

const keys = (phone: string, role: string) => ({
  otp: `otp:${role}:${phone}`,
  attempts: `otp-attempts:${role}:${phone}`,
  cooldown: `otp-cooldown:${role}:${phone}`,
});

const expired = () =>
  new UnauthenticatedError("no active OTP for this phone: it expired, was used, or was never sent; request a new one", {
    reason: "OTP_EXPIRED",
  });
