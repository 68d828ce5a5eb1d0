/** The OTP store against the real cache implementations: expiry, burning, cooldown and races. */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { createCache, type Cache } from "@weelo/cache";
import { DomainError } from "@weelo/errors";
import { createLogger } from "@weelo/log";
import { uniqueSuffix } from "@weelo/testing";
import { OtpStore } from "./otp.store.js";

const logger = createLogger({ service: "test", level: "silent" });
const backends: { name: string; skip: string | false; make: () => Cache }[] = [
  {
    name: "in-process cache",
    skip: false,
    make: () => createCache({ config: { REDIS_URL: undefined }, keyPrefix: `t:${uniqueSuffix()}:`, logger }),
  },
  {
    name: "Redis",
    skip: process.env.REDIS_URL ? false : "REDIS_URL not set",
    make: () =>
      createCache({ config: { REDIS_URL: process.env.REDIS_URL }, keyPrefix: `t:${uniqueSuffix()}:`, logger }),
  },
];

const reasonOf = (promise: Promise<unknown>) =>
  promise.then(
    () => "OK",
    (error: unknown) => (error instanceof DomainError ? error.reason : String(error)),
  );

for (const backend of backends) {
  describe(`OtpStore on ${backend.name}`, { skip: backend.skip }, () => {
    const caches: Cache[] = [];
    const store = (settings: Partial<ConstructorParameters<typeof OtpStore>[1]> = {}) => {
      const cache = backend.make();
      caches.push(cache);
      return new OtpStore(cache, {
        ttlMs: 60_000,
        maxAttempts: 5,
        cooldownMs: 30_000,
        secret: "test-secret-0123456789",
        ...settings,
      });
    };
    after(async () => {
      for (const cache of caches) await cache.close();
    });

    it("accepts the code once", async () => {
      const otps = store();
      await otps.save("+919876543210", "customer", "123456");
      assert.equal(
        await reasonOf(otps.consume("+919876543210", "driver", "123456")),
        "OTP_EXPIRED",
        "another role has no code",
      );
      assert.equal(await reasonOf(otps.consume("+919876543210", "customer", "123456")), "OK");
      assert.equal(await reasonOf(otps.consume("+919876543210", "customer", "123456")), "OTP_EXPIRED");
    });

    it("expires the code after its lifetime", async () => {
      const otps = store({ ttlMs: 150 });
      await otps.save("+919876543211", "customer", "123456");
      await new Promise((resolve) => setTimeout(resolve, 250));
      assert.equal(await reasonOf(otps.consume("+919876543211", "customer", "123456")), "OTP_EXPIRED");
    });

    it("gives at most maxAttempts comparisons even to a burst of parallel guesses", async () => {
      const otps = store({ maxAttempts: 5 });
      await otps.save("+919876543212", "customer", "654321");
      const guesses = Array.from({ length: 40 }, (_, i) => String(100000 + i));
      guesses[30] = "654321"; // the right code arrives after the budget is spent
      const reasons = await Promise.all(guesses.map((g) => reasonOf(otps.consume("+919876543212", "customer", g))));
      assert.equal(reasons.filter((r) => r === "OTP_INVALID" || r === "OTP_ATTEMPTS_EXCEEDED").length, 5);
      assert.ok(!reasons.includes("OK"), "the code is burned before the right guess is compared");
    });

    it("lets only one of many parallel correct tries log in", async () => {
      const otps = store();
      await otps.save("+919876543213", "customer", "777777");
      const reasons = await Promise.all(
        Array.from({ length: 10 }, () => reasonOf(otps.consume("+919876543213", "customer", "777777"))),
      );
      assert.equal(reasons.filter((r) => r === "OK").length, 1);
    });

    it("holds a resend cooldown and says how long is left", async () => {
      const otps = store({ cooldownMs: 30_000 });
      await otps.claimCooldown("+919876543214", "customer");
      await assert.rejects(otps.claimCooldown("+919876543214", "customer"), (error: unknown) => {
        assert.ok(error instanceof DomainError);
        assert.equal(error.reason, "OTP_COOLDOWN");
        assert.ok(error.retryAfterSeconds! > 25 && error.retryAfterSeconds! <= 30);
        return true;
      });
      await otps.releaseCooldown("+919876543214", "customer");
      await otps.claimCooldown("+919876543214", "customer");
    });
  });
}
