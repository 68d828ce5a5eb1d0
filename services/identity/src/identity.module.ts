/**
 * Wires the identity service into a process: its schema, OTP store, SMS sender, limits and
 * token issuer, registered on the shared gRPC server. Used by this service's own main and by
 * the all-in-one process alike.
 */
import { TokenIssuer } from "@weelo/auth";
import { AuthServiceService } from "@weelo/contracts/grpc/weelo/identity/v1/auth_service";
import { ProfileServiceService } from "@weelo/contracts/grpc/weelo/identity/v1/profile_service";
import { ContactDirectoryServiceService } from "@weelo/contracts/grpc/weelo/identity/v1/contact_directory_service";
import { contactDirectoryHandlers } from "./contact-directory.js";
import { AccountAdminServiceService } from "@weelo/contracts/grpc/weelo/identity/v1/account_admin_service";
import { accountAdminHandlers } from "./account-admin.js";
import { consumeDriverRemovals } from "./driver-removals.js";
import { createGuard, createRateLimiter } from "@weelo/resilience";
import type { Platform } from "@weelo/runtime";
import { openDriverDirectory, type DriverDirectory } from "./driver-directory.js";
import { DEV_OPS_PHONE, opsPhonesOf, type IdentityConfig } from "./identity.config.js";
import { authHandlers, profileHandlers, PUBLIC_AUTH_METHODS } from "./identity.handlers.js";
import { createIdentityService, type IdentityService } from "./identity.service.js";
import type { IdentityDatabase } from "./identity.table.js";
import { identityMigrations } from "./migrations/index.js";
import { OtpStore } from "./otp.store.js";
import { UserCache } from "./user.cache.js";
import { ConsoleSmsSender } from "./sms/console-sms-sender.js";
import { Msg91SmsSender } from "./sms/msg91-sms-sender.js";
import type { SmsSender } from "./sms/sms-sender.js";

export interface IdentityModuleOptions {
  /** The driver-login rule; the fleet service provides the real one. */
  drivers?: DriverDirectory;
}

export async function startIdentity(
  platform: Platform,
  config: IdentityConfig,
  options: IdentityModuleOptions = {},
): Promise<IdentityService> {
  const logger = platform.logger.child({ component: "identity" });
  const database = await platform.database<IdentityDatabase>("identity", identityMigrations);
  const sms = createSmsSender(platform, config);
  logger.info(
    { provider: sms.name },
    sms.revealsCodes
      ? "SMS provider: console (OTPs are written to this log; development only)"
      : `SMS provider: ${sms.name}`,
  );
  if (options.drivers === undefined) {
    logger.warn("driver login is open: no fleet directory is wired in, any phone may log in as a driver");
  }
  const opsPhones = opsPhonesOf(config);
  if (opsPhones.length === 0) logger.warn("OPS_PHONES is empty: nobody can log in to the operations console");
  else if (config.OPS_PHONES === undefined)
    logger.warn(
      { phone: DEV_OPS_PHONE },
      "OPS_PHONES is unset: the development operations phone may log in with role ops (development only)",
    );
  const redis = platform.cache.redisClient();
  const identity = createIdentityService({
    db: database.db,
    otps: new OtpStore(platform.cache, {
      ttlMs: config.OTP_TTL_S * 1000,
      maxAttempts: config.OTP_MAX_ATTEMPTS,
      cooldownMs: config.OTP_RESEND_COOLDOWN_S * 1000,
      secret: config.OTP_HASH_SECRET,
    }),
    users: new UserCache(platform.cache),
    sms,
    issuer: new TokenIssuer(platform.keys, {
      issuer: config.JWT_ISSUER,
      accessTtlSeconds: config.ACCESS_TOKEN_TTL_S,
      refreshTtlSeconds: config.REFRESH_TOKEN_TTL_S,
    }),
    verifier: platform.verifier,
    revocations: platform.revocations,
    sessions: platform.sessions,
    drivers: options.drivers ?? openDriverDirectory,
    limits: {
      otpPerPhone: createRateLimiter(
        {
          name: "otp-phone",
          points: config.OTP_PER_PHONE_PER_HOUR,
          durationSeconds: 3600,
          what: "OTP requests for this phone",
          keyPrefix: config.CACHE_KEY_PREFIX,
        },
        redis,
      ),
      otpPerIp: createRateLimiter(
        {
          name: "otp-ip",
          points: config.OTP_PER_IP_PER_HOUR,
          durationSeconds: 3600,
          what: "OTP requests from this network",
          keyPrefix: config.CACHE_KEY_PREFIX,
        },
        redis,
      ),
    },
    settings: {
      resendCooldownSeconds: config.OTP_RESEND_COOLDOWN_S,
      maxDevicesPerUser: config.MAX_DEVICES_PER_USER,
      opsPhones,
    },
    logger,
  });
  platform.grpc
    .addService(AuthServiceService, authHandlers(identity), { publicMethods: PUBLIC_AUTH_METHODS })
    .addService(ProfileServiceService, profileHandlers(identity))
    // Internal: the notification service reads contacts without a user token; never on the gateway.
    .addService(ContactDirectoryServiceService, contactDirectoryHandlers(database.db))
    // Internal: operations staff (the ops console service) look up, block and unblock accounts; never on the gateway.
    .addService(AccountAdminServiceService, accountAdminHandlers(identity));
  // A driver a transporter removed loses every session at once (fleet's stream may not exist yet: looked for until it does).
  const driverRemovals = consumeDriverRemovals(
    platform.bus,
    identity,
    { stream: config.FLEET_STREAM, subjectRoot: config.FLEET_SUBJECT_ROOT, durable: config.IDENTITY_FLEET_CONSUMER },
    logger,
  );
  platform.onShutdown("identity driver removals", () => driverRemovals.stop());
  return identity;
}

function createSmsSender(platform: Platform, config: IdentityConfig): SmsSender {
  if (config.SMS_PROVIDER === "console") return new ConsoleSmsSender(platform.logger.child({ component: "sms" }));
  const guard = createGuard({
    name: "sms-msg91",
    logger: platform.logger,
    metrics: platform.metrics,
    timeoutMs: config.SMS_TIMEOUT_MS,
  });
  return new Msg91SmsSender(
    {
      baseUrl: config.MSG91_BASE_URL,
      authKey: config.MSG91_AUTH_KEY ?? "",
      templateId: config.MSG91_TEMPLATE_ID ?? "",
    },
    guard,
  );
}
