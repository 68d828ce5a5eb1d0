/**
 * The verifier against tokens the real key signed with missing or doubtful time claims: no
 * "exp" would never expire, no "iat" cannot be judged, an "iat" beyond the clock skew was not
 * issued by a sane clock. Both token kinds, signed with a generated development key pair.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as jose from "jose";
import { DomainError, GrpcCode } from "@weelo/errors";
import {
  CLOCK_SKEW_SECONDS,
  generateKeyPair,
  RevocationList,
  TokenIssuer,
  TokenVerifier,
  type KeyMaterial,
} from "./index.js";

const SESSION = "00000000-0000-7000-8000-000000000000";
const USER = "00000000-0000-7000-8000-000000000001";

/** The revocation store the verifier reads: a plain map with expiry, as the in-process cache keeps it. */
function memoryStore() {
  const entries = new Map<string, { value: string; until: number }>();
  return {
    async get(key: string) {
      const entry = entries.get(key);
      return entry && entry.until > Date.now() ? entry.value : undefined;
    },
    async set(key: string, value: string, options: { ttlMs: number }) {
      entries.set(key, { value, until: Date.now() + options.ttlMs });
    },
  };
}

describe("TokenVerifier time claims", () => {
  let keys: KeyMaterial;
  let verifier: TokenVerifier;
  let issuer: TokenIssuer;
  const now = () => Math.floor(Date.now() / 1000);

  before(async () => {
    const pair = await generateKeyPair();
    keys = {
      keyId: pair.keyId,
      privateKey: await jose.importPKCS8(pair.privateKeyPem, "EdDSA"),
      jwks: { keys: [pair.publicJwk] },
    };
    verifier = new TokenVerifier(keys, new RevocationList(memoryStore(), 60_000));
    issuer = new TokenIssuer(keys);
  });

  /** An access or refresh token signed with the real key, with exactly the time claims given. */
  function sign(kind: "access" | "refresh", times: { iat?: number; exp?: number }): Promise<string> {
    const claims = kind === "access" ? { role: "customer", sid: SESSION } : { sid: SESSION, jti: "t-1" };
    const jwt = new jose.SignJWT({ ...claims, ...times })
      .setProtectedHeader({ alg: "EdDSA", kid: keys.keyId, typ: "JWT" })
      .setIssuer("weelo")
      .setAudience(kind === "access" ? "weelo-api" : "weelo-refresh")
      .setSubject(USER);
    return jwt.sign(keys.privateKey!);
  }

  const verify = (kind: "access" | "refresh", token: string) =>
    kind === "access" ? verifier.verifyAccessToken(token) : verifier.verifyRefreshToken(token);

  const refusedAs = (reason: string, message: RegExp) => (error: unknown) =>
    error instanceof DomainError &&
    error.code === GrpcCode.UNAUTHENTICATED &&
    error.reason === reason &&
    message.test(error.message);

  for (const kind of ["access", "refresh"] as const) {
    it(`${kind} token: accepts one the issuer made, and one issued within the clock skew`, async () => {
      const issued =
        kind === "access"
          ? (await issuer.issueAccessToken({ userId: USER, role: "customer", sessionId: SESSION })).token
          : (await issuer.issueRefreshToken(USER, SESSION)).token;
      const claims = await verify(kind, issued);
      assert.equal(claims.userId, USER);
      const slightlyAhead = await verify(
        kind,
        await sign(kind, { iat: now() + CLOCK_SKEW_SECONDS - 5, exp: now() + 600 }),
      );
      assert.equal(slightlyAhead.sessionId, SESSION);
    });

    it(`${kind} token: refuses one without exp`, async () => {
      await assert.rejects(verify(kind, await sign(kind, { iat: now() })), refusedAs("TOKEN_INVALID", /not valid/));
    });

    it(`${kind} token: refuses one without iat`, async () => {
      await assert.rejects(
        verify(kind, await sign(kind, { exp: now() + 600 })),
        refusedAs("TOKEN_INVALID", /not valid/),
      );
    });

    it(`${kind} token: refuses one issued beyond the clock skew in the future`, async () => {
      const token = await sign(kind, { iat: now() + CLOCK_SKEW_SECONDS + 60, exp: now() + 3600 });
      await assert.rejects(verify(kind, token), refusedAs("TOKEN_INVALID", /issued in the future/));
    });

    it(`${kind} token: still calls an expired one expired`, async () => {
      const token = await sign(kind, { iat: now() - 3600, exp: now() - 60 });
      await assert.rejects(verify(kind, token), refusedAs("TOKEN_EXPIRED", /expired/));
    });
  }
});
