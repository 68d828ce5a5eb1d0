/**
 * Access tokens (15 minutes) and refresh tokens (7 days) are EdDSA-signed JWTs. Verification
 * costs ~0.2 ms of CPU, so verified access tokens are remembered (bounded, until they expire);
 * revocation is still checked on every call.
 */
import { randomUUID } from "node:crypto";
import * as jose from "jose";
import { UnauthenticatedError } from "@weelo/errors";
import { JWT_ALGORITHM, type KeyMaterial } from "./keys.js";
import type { Principal, Role } from "./principal.js";
import { ROLES } from "./principal.js";
import type { RevocationList } from "./revocation.js";

export interface TokenSettings {
  issuer: string;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
}

export const DEFAULT_TOKEN_SETTINGS: TokenSettings = {
  issuer: "weelo",
  accessTtlSeconds: 15 * 60,
  refreshTtlSeconds: 7 * 24 * 60 * 60,
};

const ACCESS_AUDIENCE = "weelo-api";
/**
 * How far in the future a token's issue time may be (the issuer's clock ahead of ours). A
 * token issued later than that was not issued by a sane clock, or was minted to outlive its
 * revocation window: refused.
 */
export const CLOCK_SKEW_SECONDS = 30;
const REFRESH_AUDIENCE = "weelo-refresh";

export interface IssuedToken {
  token: string;
  expiresAt: Date;
}

export interface RefreshClaims {
  userId: string;
  sessionId: string;
  /** Unique id of this refresh token; the session stores the current one to detect reuse. */
  tokenId: string;
  expiresAt: number;
}

/** Signs tokens; only identity holds one. */
export class TokenIssuer {
  constructor(
    private readonly keys: KeyMaterial,
    readonly settings: TokenSettings = DEFAULT_TOKEN_SETTINGS,
  ) {
    if (!keys.privateKey) throw new Error("TokenIssuer needs a private key (JWT_PRIVATE_KEY)");
  }

  async issueAccessToken(principal: Omit<Principal, "expiresAt">): Promise<IssuedToken> {
    const expiresAt = new Date(Date.now() + this.settings.accessTtlSeconds * 1000);
    const claims: jose.JWTPayload = { role: principal.role, sid: principal.sessionId };
    if (principal.transporterId) claims.tid = principal.transporterId;
    const token = await this.sign(claims, principal.userId, ACCESS_AUDIENCE, expiresAt);
    return { token, expiresAt };
  }

  async issueRefreshToken(userId: string, sessionId: string): Promise<IssuedToken & { tokenId: string }> {
    const expiresAt = new Date(Date.now() + this.settings.refreshTtlSeconds * 1000);
    const tokenId = randomUUID();
    const token = await this.sign({ sid: sessionId, jti: tokenId }, userId, REFRESH_AUDIENCE, expiresAt);
    return { token, expiresAt, tokenId };
  }

  private sign(claims: jose.JWTPayload, subject: string, audience: string, expiresAt: Date): Promise<string> {
    return new jose.SignJWT(claims)
      .setProtectedHeader({ alg: JWT_ALGORITHM, kid: this.keys.keyId, typ: "JWT" })
      .setIssuer(this.settings.issuer)
      .setAudience(audience)
      .setSubject(subject)
      .setIssuedAt()
      .setExpirationTime(expiresAt)
      .sign(this.keys.privateKey!);
  }
}

/** Verifies tokens anywhere: gateway and every service. */
export class TokenVerifier {
  private readonly keySet: ReturnType<typeof jose.createLocalJWKSet>;
  /** Verified access tokens by their text; Map order gives a cheap oldest-first eviction. */
  private readonly verified = new Map<string, Principal>();

  constructor(
    keys: KeyMaterial,
    private readonly revocations: RevocationList,
    private readonly settings: Pick<TokenSettings, "issuer"> = DEFAULT_TOKEN_SETTINGS,
    private readonly maxRemembered = 50_000,
  ) {
    this.keySet = jose.createLocalJWKSet(keys.jwks);
  }

  /**
   * The principal of a valid, unexpired, unrevoked access token; UNAUTHENTICATED otherwise.
   * `checkRevocation: false` skips the revocation lookup, for a front door (the gateway)
   * whose every call reaches a service that checks it anyway.
   */
  async verifyAccessToken(token: string, options: { checkRevocation?: boolean } = {}): Promise<Principal> {
    let principal = this.verified.get(token);
    if (principal && principal.expiresAt <= Date.now()) {
      this.verified.delete(token);
      principal = undefined;
    }
    if (!principal) {
      principal = await this.verifySignature(token);
      if (this.verified.size >= this.maxRemembered) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, principal);
    }
    if (options.checkRevocation !== false && (await this.revocations.isRevoked(principal.sessionId))) {
      throw new UnauthenticatedError("the session has ended; log in again", { reason: "SESSION_REVOKED" });
    }
    return principal;
  }

  /** Claims of a refresh token with a valid signature; the caller checks it against the session. */
  async verifyRefreshToken(token: string): Promise<RefreshClaims> {
    const payload = await this.verifyJwt(token, REFRESH_AUDIENCE, "refresh token");
    if (typeof payload.sid !== "string" || typeof payload.jti !== "string" || !payload.sub) {
      throw new UnauthenticatedError("the refresh token is malformed", { reason: "TOKEN_INVALID" });
    }
    return { userId: payload.sub, sessionId: payload.sid, tokenId: payload.jti, expiresAt: (payload.exp ?? 0) * 1000 };
  }

  private async verifySignature(token: string): Promise<Principal> {
    const payload = await this.verifyJwt(token, ACCESS_AUDIENCE, "access token");
    const role = payload.role as Role;
    if (!payload.sub || typeof payload.sid !== "string" || !ROLES.includes(role)) {
      throw new UnauthenticatedError("the access token is malformed", { reason: "TOKEN_INVALID" });
    }
    const principal: Principal = {
      userId: payload.sub,
      role,
      sessionId: payload.sid,
      expiresAt: (payload.exp ?? 0) * 1000,
      ...(typeof payload.tid === "string" ? { transporterId: payload.tid } : {}),
    };
    return principal;
  }

  private async verifyJwt(token: string, audience: string, what: string): Promise<jose.JWTPayload> {
    try {
      const { payload } = await jose.jwtVerify(token, this.keySet, {
        issuer: this.settings.issuer,
        audience,
        algorithms: [JWT_ALGORITHM],
        // A token without an expiry would never stop working; one without an issue time cannot be judged against the clock.
        requiredClaims: ["exp", "iat"],
      });
      // jose checks "iat" only together with maxTokenAge, whose tolerance would also stretch "exp": checked here.
      if (payload.iat! > Math.floor(Date.now() / 1000) + CLOCK_SKEW_SECONDS) {
        throw new UnauthenticatedError(`the ${what} is not valid yet (issued in the future)`, {
          reason: "TOKEN_INVALID",
        });
      }
      return payload;
    } catch (error) {
      if (error instanceof UnauthenticatedError) throw error;
      if (error instanceof jose.errors.JWTExpired) {
        throw new UnauthenticatedError(`the ${what} has expired`, { reason: "TOKEN_EXPIRED" });
      }
      throw new UnauthenticatedError(`the ${what} is not valid`, { reason: "TOKEN_INVALID" });
    }
  }
}

/** The token of an "Authorization: Bearer <token>" header, or undefined. */
export function bearerToken(header: string | undefined | null): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
