/**
 * Identity's use cases: send and verify OTPs, rotate and revoke sessions, read and change
 * profiles and devices. It orchestrates rules, the repository, the OTP store and the SMS
 * sender; the gRPC handlers only translate to and from protobuf.
 */
import { v7 as uuidv7 } from "uuid";
import type { Principal, RevocationList, Role, SessionWatch, TokenIssuer, TokenVerifier } from "@weelo/auth";
import { InvalidArgumentError, NotFoundError, PermissionDeniedError, UnauthenticatedError } from "@weelo/errors";
import { isUuid, validateId } from "@weelo/formats";
import type { Logger } from "@weelo/log";
import type { RateLimiter } from "@weelo/resilience";
import type { DriverDirectory } from "./driver-directory.js";
import {
  generateOtp,
  maskPhone,
  normalizeIndianPhone,
  validateCompanyName,
  validateEmail,
  validateGstin,
  validateName,
  validatePushToken,
} from "./identity.rules.js";
import * as repo from "./identity.repository.js";
import type { DeviceRow, UserRow, UserUpdate } from "./identity.table.js";
import type { OtpStore } from "./otp.store.js";
import type { UserCache } from "./user.cache.js";
import type { SmsSender } from "./sms/sms-sender.js";

export interface IdentityDeps {
  db: repo.IdentityDb;
  otps: OtpStore;
  users: UserCache;
  sms: SmsSender;
  issuer: TokenIssuer;
  verifier: TokenVerifier;
  revocations: RevocationList;
  /** Announces revocations on the bus, so open streams and sockets of the session close at once. */
  sessions: Pick<SessionWatch, "announce">;
  drivers: DriverDirectory;
  limits: { otpPerPhone: RateLimiter; otpPerIp: RateLimiter };
  settings: {
    resendCooldownSeconds: number;
    maxDevicesPerUser: number;
    /** Phones (E.164) that may log in with role ops: the OPS_PHONES allow-list. */
    opsPhones: readonly string[];
  };
  logger: Logger;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: Date;
  refreshTokenExpiresAt: Date;
}

export interface ProfileChanges {
  name?: string | undefined;
  email?: string | undefined;
  companyName?: string | undefined;
  gstin?: string | undefined;
  language?: "en" | "hi" | undefined;
}

export type IdentityService = ReturnType<typeof createIdentityService>;

export function createIdentityService(deps: IdentityDeps) {
  const { db, otps, users, sms, issuer, verifier, revocations, sessions, drivers, limits, logger } = deps;
  const opsPhones = new Set(deps.settings.opsPhones);

  const opsPhoneNotAllowed = () =>
    new PermissionDeniedError("this phone may not log in to the operations console", {
      reason: "OPS_PHONE_NOT_ALLOWED",
    });

  async function driverLink(phone: string, role: Role): Promise<string | null> {
    if (role !== "driver") return null;
    const driver = await drivers.findActiveDriver(phone);
    if (!driver) {
      throw new PermissionDeniedError(
        "this phone is not registered as a driver by any transporter; ask your transporter to add you",
        {
          reason: "DRIVER_NOT_REGISTERED",
        },
      );
    }
    return driver.transporterId || null;
  }

  async function openSession(user: UserRow): Promise<TokenPair> {
    const sessionId = uuidv7();
    const refresh = await issuer.issueRefreshToken(user.id, sessionId);
    await repo.createSession(db, {
      id: sessionId,
      userId: user.id,
      tokenId: refresh.tokenId,
      expiresAt: refresh.expiresAt,
    });
    const access = await issueAccess(user, sessionId);
    return {
      accessToken: access.token,
      accessTokenExpiresAt: access.expiresAt,
      refreshToken: refresh.token,
      refreshTokenExpiresAt: refresh.expiresAt,
    };
  }

  function issueAccess(user: UserRow, sessionId: string) {
    return issuer.issueAccessToken({
      userId: user.id,
      role: user.role as Role,
      sessionId,
      ...(user.transporter_id ? { transporterId: user.transporter_id } : {}),
    });
  }

  async function endSession(sessionId: string, userId: string, reason: string): Promise<void> {
    await repo.revokeSession(db, sessionId, reason);
    // The cache entry makes every replica refuse the session's access tokens at once; the
    // notice, sent once the entry is there, closes what is already open (streams, sockets).
    await revocations.revoke(sessionId);
    sessions.announce({ sessionId, userId });
  }

  /** Ends every open session of a user at once (blocked account, removed driver); returns how many. */
  async function endAllSessions(userId: string, reason: string): Promise<number> {
    const sessionIds = await repo.revokeUserSessions(db, userId, reason);
    for (const sessionId of sessionIds) {
      await revocations.revoke(sessionId);
      sessions.announce({ sessionId, userId });
    }
    return sessionIds.length;
  }

  const accountBlocked = () =>
    new PermissionDeniedError("this account is blocked; contact Weelo support", { reason: "ACCOUNT_BLOCKED" });

  /** An audit reason: not blank (its most length is the contract's rule, string.max_len). */
  function auditReason(reason: string): string {
    const trimmed = reason.trim();
    if (trimmed === "") throw new InvalidArgumentError("reason", "reason must not be blank");
    return trimmed;
  }

  async function requireUser(userId: string): Promise<UserRow> {
    const user = await users.get(userId, () => repo.findUserById(db, userId));
    if (!user) throw new NotFoundError("the account no longer exists", { reason: "USER_NOT_FOUND" });
    return user;
  }

  return {
    /** Sends an OTP; returns when it expires and, with the console sender only, the code itself. */
    async sendOtp(input: { phone: string; role: Role; clientIp: string }) {
      const phone = normalizeIndianPhone(input.phone);
      if (input.role === "ops" && !opsPhones.has(phone)) {
        // Refused before any code is made or sent. The address's budget is still spent, so the
        // allow-list cannot be probed faster than OTPs can be asked for.
        await limits.otpPerIp.consume(input.clientIp);
        logger.warn({ phone: maskPhone(phone) }, "ops OTP refused: phone not on OPS_PHONES");
        throw opsPhoneNotAllowed();
      }
      // No driver-directory check here: a different answer for unregistered phones would tell
      // anyone which numbers a transporter registered. VerifyOtp refuses them instead.
      await otps.claimCooldown(phone, input.role);
      try {
        await limits.otpPerPhone.consume(phone);
        await limits.otpPerIp.consume(input.clientIp);
      } catch (error) {
        await otps.releaseCooldown(phone, input.role);
        throw error;
      }
      const otp = generateOtp();
      const expiresAt = await otps.save(phone, input.role, otp);
      try {
        await sms.sendOtp(phone, otp);
      } catch (error) {
        // Nothing half-done: the code that never arrived is dropped and the user may retry at once.
        await otps.discard(phone, input.role);
        await otps.releaseCooldown(phone, input.role);
        await limits.otpPerPhone.refund(phone).catch(() => undefined);
        throw error;
      }
      logger.info({ phone: maskPhone(phone), role: input.role, provider: sms.name }, "otp sent");
      return {
        expiresAt,
        resendAfterSeconds: deps.settings.resendCooldownSeconds,
        devOtp: sms.revealsCodes ? otp : "",
      };
    },

    /** Logs in: consumes the OTP, applies the driver-login rule, creates the account on first login, opens a session. */
    async verifyOtp(input: { phone: string; otp: string; role: Role }) {
      const phone = normalizeIndianPhone(input.phone);
      const otp = input.otp; // six digits: the contract's rule (weelo.common.v1.otp)
      // The allow-list is read again: a phone taken off it since its OTP was sent gets no session.
      if (input.role === "ops" && !opsPhones.has(phone)) throw opsPhoneNotAllowed();
      await otps.consume(phone, input.role, otp);
      const transporterId = await driverLink(phone, input.role);
      const { user, created } = await repo.upsertUserOnLogin(db, {
        id: uuidv7(),
        phone,
        role: input.role,
        transporterId,
      });
      if (!created) await users.forget(user.id); // a driver's transporter may have changed
      if (user.blocked_at) {
        logger.warn({ userId: user.id, role: user.role }, "login refused: account blocked");
        throw accountBlocked();
      }
      if (input.role === "driver") await drivers.linkAccount?.(phone, user.id);
      const tokens = await openSession(user);
      logger.info({ userId: user.id, role: user.role, created }, "user logged in");
      return { tokens, user, created };
    },

    /** Rotates the refresh token; a token presented twice ends its whole session (theft detection). */
    async refresh(refreshToken: string): Promise<TokenPair> {
      if (!refreshToken) throw new UnauthenticatedError("refresh_token is required", { reason: "TOKEN_INVALID" });
      const claims = await verifier.verifyRefreshToken(refreshToken);
      const next = await issuer.issueRefreshToken(claims.userId, claims.sessionId);
      const rotated = await repo.rotateSessionToken(db, {
        sessionId: claims.sessionId,
        presentedTokenId: claims.tokenId,
        nextTokenId: next.tokenId,
        expiresAt: next.expiresAt,
      });
      if (!rotated) {
        const session = await repo.findSession(db, claims.sessionId);
        if (!session || session.revoked_at) {
          throw new UnauthenticatedError("the session has ended; log in again", { reason: "SESSION_REVOKED" });
        }
        if (session.expires_at.getTime() <= Date.now()) {
          throw new UnauthenticatedError("the session has expired; log in again", { reason: "TOKEN_EXPIRED" });
        }
        await endSession(session.id, session.user_id, "refresh_token_reuse");
        logger.warn({ userId: session.user_id, sessionId: session.id }, "refresh token reused: session revoked");
        throw new UnauthenticatedError(
          "this refresh token was already used; the session has been ended for safety, log in again",
          {
            reason: "REFRESH_TOKEN_REUSED",
          },
        );
      }
      const user = await requireUser(rotated.userId);
      if (user.blocked_at) {
        // The block revoked every session it saw; one opened by a login racing the block ends here.
        await endSession(claims.sessionId, user.id, "account_blocked");
        throw accountBlocked();
      }
      if (user.role === "ops" && !opsPhones.has(user.phone)) {
        // Taken off OPS_PHONES: the session ends at its next refresh (within an access token's life).
        await endSession(claims.sessionId, user.id, "ops_phone_removed");
        throw opsPhoneNotAllowed();
      }
      const access = await issueAccess(user, claims.sessionId);
      return {
        accessToken: access.token,
        accessTokenExpiresAt: access.expiresAt,
        refreshToken: next.token,
        refreshTokenExpiresAt: next.expiresAt,
      };
    },

    /** Ends the caller's session, named by the access token or by the refresh token. */
    async logout(input: { principal: Principal | undefined; refreshToken: string }): Promise<void> {
      let sessionId = input.principal?.sessionId;
      let userId = input.principal?.userId ?? "";
      if (!sessionId && input.refreshToken) {
        ({ sessionId, userId } = await verifier.verifyRefreshToken(input.refreshToken));
      }
      if (!sessionId)
        throw new UnauthenticatedError("log out needs the access token or the refresh token of the session");
      await endSession(sessionId, userId, "logout");
      logger.info({ sessionId }, "logged out");
    },

    getMe: (principal: Principal) => requireUser(principal.userId),

    /** Blocks an account (operations staff): no login, no refresh, every open session revoked at once. */
    async blockUser(input: { userId: string; reason: string }): Promise<{ user: UserRow; sessionsRevoked: number }> {
      const userId = validateId(input.userId, "user_id");
      const reason = auditReason(input.reason);
      const user = await repo.blockUser(db, userId, reason);
      if (!user) throw new NotFoundError("no such user", { reason: "USER_NOT_FOUND" });
      await users.forget(userId);
      const sessionsRevoked = await endAllSessions(userId, "account_blocked");
      logger.warn({ userId, role: user.role, reason, sessionsRevoked }, "account blocked");
      return { user, sessionsRevoked };
    },

    /** Lets a blocked account log in again; the sessions the block revoked stay revoked. */
    async unblockUser(input: { userId: string; reason: string }): Promise<boolean> {
      const userId = validateId(input.userId, "user_id");
      const reason = auditReason(input.reason);
      const unblocked = await repo.unblockUser(db, userId);
      if (unblocked === undefined) throw new NotFoundError("no such user", { reason: "USER_NOT_FOUND" });
      await users.forget(userId);
      if (unblocked) logger.warn({ userId, reason }, "account unblocked");
      return unblocked;
    },

    /** The accounts with these ids, in the order asked; unknown (or malformed) ids are left out. */
    async getAccounts(userIds: readonly string[]): Promise<UserRow[]> {
      const ids = [...new Set(userIds.map((id) => id.trim().toLowerCase()).filter(isUuid))];
      const byId = new Map((await repo.findUsersByIds(db, ids)).map((user) => [user.id, user]));
      return userIds.flatMap((id) => byId.get(id.trim().toLowerCase()) ?? []);
    },

    /** Every account of a phone (one per role), in any accepted form of the number. */
    async findAccountsByPhone(phone: string): Promise<UserRow[]> {
      return repo.findUsersByPhone(db, normalizeIndianPhone(phone));
    },

    /**
     * A transporter removed a driver: every open session of the driver's account ends at once.
     * The account is the one fleet names, else the driver account of the phone.
     */
    async endSessionsOfDriver(driver: { userId: string; phone: string }): Promise<number> {
      const userId =
        driver.userId || (driver.phone ? (await repo.findUserByPhone(db, driver.phone, "driver"))?.id : undefined);
      if (!userId) return 0; // never logged in: no session to end
      const ended = await endAllSessions(userId, "driver_removed");
      logger.info({ userId, sessionsRevoked: ended }, "driver removed by the transporter: sessions revoked");
      return ended;
    },

    async updateProfile(principal: Principal, changes: ProfileChanges): Promise<UserRow> {
      const update: UserUpdate = {};
      if (changes.name !== undefined) update.name = validateName(changes.name);
      if (changes.email !== undefined) update.email = validateEmail(changes.email);
      if (changes.language !== undefined) update.language = changes.language;
      if (changes.companyName !== undefined || changes.gstin !== undefined) {
        if (principal.role !== "transporter") {
          throw new PermissionDeniedError("company name and GSTIN belong to transporter accounts", {
            reason: "ROLE_NOT_ALLOWED",
          });
        }
        if (changes.companyName !== undefined) update.company_name = validateCompanyName(changes.companyName);
        if (changes.gstin !== undefined) update.gstin = validateGstin(changes.gstin);
      }
      const user = await repo.updateUser(db, principal.userId, update);
      await users.forget(principal.userId);
      if (!user) throw new NotFoundError("the account no longer exists", { reason: "USER_NOT_FOUND" });
      return user;
    },

    async registerDevice(principal: Principal, input: { pushToken: string; platform: string }): Promise<DeviceRow> {
      const pushToken = validatePushToken(input.pushToken);
      return db.transaction().execute(async (trx) => {
        const device = await repo.upsertDevice(trx, {
          id: uuidv7(),
          userId: principal.userId,
          pushToken,
          platform: input.platform,
        });
        await repo.pruneDevices(trx, principal.userId, deps.settings.maxDevicesPerUser);
        return device;
      });
    },

    unregisterDevice(principal: Principal, pushToken: string): Promise<boolean> {
      return repo.deleteDevice(db, principal.userId, pushToken.trim());
    },
  };
}
