/** Quote tokens: what verifies, and each way a token is refused (with the reason the booking service shows). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as jose from "jose";
import { DomainError, GrpcCode } from "@weelo/errors";
import { computeFare } from "./pricing.rules.js";
import { signQuoteToken, verifyQuoteToken, type QuoteClaims } from "./quote-token.js";

const SECRET = "test-quote-secret-0123456789abcdef";
const issuedAt = new Date("2026-01-15T10:00:00Z");
const perVehicle = computeFare({
  tariff: { baseFarePaise: 25_000, perKmPaise: 1_800, minBillableKm: 3 },
  distanceM: 12_345,
  night: false,
  nightChargeBps: 1000,
  surgeMultiplier: 1.25,
  gstRateBps: 500,
});
const claims: QuoteClaims = {
  quoteId: "0194b1c2-0000-7000-8000-000000000001",
  customerId: "0194b1c2-0000-7000-8000-0000000000aa",
  vehicleType: "mini_truck",
  vehicleCount: 2,
  pickup: { lat: 12.9716, lng: 77.5946 },
  drop: { lat: 13.0358, lng: 77.597 },
  scheduledAt: new Date("2026-01-15T12:00:00Z"),
  distanceM: 12_345,
  durationS: 1_778,
  distanceSource: "great_circle_estimate",
  perVehicle,
  orderTotalPaise: perVehicle.totalPaise * 2,
  currency: "INR",
  freeLoadingMinutes: 30,
  waitingChargePerMinutePaise: 200,
  issuedAt,
  expiresAt: new Date(issuedAt.getTime() + 600_000),
};
const during = { now: new Date(issuedAt.getTime() + 60_000) };

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => "OK",
    (error: unknown) =>
      error instanceof DomainError ? `${error.code}:${error.reason}:${error.field ?? ""}` : String(error),
  );
const INVALID = `${GrpcCode.INVALID_ARGUMENT}:QUOTE_INVALID:quote_token`;

describe("quote tokens", () => {
  it("verify to exactly the claims that were signed", async () => {
    const token = await signQuoteToken(claims, SECRET);
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, "a compact JWS");
    assert.deepEqual(jose.decodeProtectedHeader(token), { alg: "HS256", typ: "weelo-quote+jwt" });
    assert.deepEqual(await verifyQuoteToken(token, SECRET, during), claims);
    assert.deepEqual(await verifyQuoteToken(token, SECRET, { ...during, customerId: claims.customerId }), claims);
    const now = await verifyQuoteToken(
      await signQuoteToken({ ...claims, scheduledAt: undefined }, SECRET),
      SECRET,
      during,
    );
    assert.equal(now.scheduledAt, undefined);
  });

  it("refuse a tampered payload, another key, and garbage", async () => {
    const token = await signQuoteToken(claims, SECRET);
    const [header, payload, signature] = token.split(".") as [string, string, string];
    const body = JSON.parse(Buffer.from(payload, "base64url").toString());
    body.quote.orderTotalPaise = 100;
    const tampered = `${header}.${Buffer.from(JSON.stringify(body)).toString("base64url")}.${signature}`;
    assert.equal(await refusal(verifyQuoteToken(tampered, SECRET, during)), INVALID);
    assert.equal(await refusal(verifyQuoteToken(token, "another-secret-0123456789abcdefgh", during)), INVALID);
    assert.equal(await refusal(verifyQuoteToken(`${token.slice(0, -2)}xx`, SECRET, during)), INVALID);
    assert.equal(await refusal(verifyQuoteToken("", SECRET)), INVALID);
    assert.equal(await refusal(verifyQuoteToken("not.a.token", SECRET)), INVALID);
    assert.equal(await refusal(verifyQuoteToken("garbage", SECRET)), INVALID);
  });

  it("refuse an unsigned token and another HS256 token of the same key", async () => {
    const [, payload] = (await signQuoteToken(claims, SECRET)).split(".");
    const none = `${Buffer.from(JSON.stringify({ alg: "none", typ: "weelo-quote+jwt" })).toString("base64url")}.${payload}.`;
    assert.equal(await refusal(verifyQuoteToken(none, SECRET, during)), INVALID);
    const other = await new jose.SignJWT({ quote: {} })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer("weelo-pricing")
      .setAudience("weelo-booking")
      .setSubject("u")
      .setJti("q")
      .setIssuedAt()
      .setExpirationTime("10m")
      .sign(new TextEncoder().encode(SECRET));
    assert.equal(await refusal(verifyQuoteToken(other, SECRET)), INVALID, "wrong typ");
    const incomplete = await new jose.SignJWT({ quote: { vehicleType: "mini_truck" } })
      .setProtectedHeader({ alg: "HS256", typ: "weelo-quote+jwt" })
      .setIssuer("weelo-pricing")
      .setAudience("weelo-booking")
      .setSubject("u")
      .setJti("q")
      .setIssuedAt()
      .setExpirationTime("10m")
      .sign(new TextEncoder().encode(SECRET));
    assert.equal(await refusal(verifyQuoteToken(incomplete, SECRET)), INVALID, "a signed token without a full quote");
  });

  it("refuse an expired quote as a failed precondition, from the second it expires", async () => {
    const token = await signQuoteToken(claims, SECRET);
    const expired = `${GrpcCode.FAILED_PRECONDITION}:QUOTE_EXPIRED:quote_token`;
    assert.equal(
      await refusal(verifyQuoteToken(token, SECRET, { now: new Date(claims.expiresAt.getTime() - 1000) })),
      "OK",
    );
    assert.equal(await refusal(verifyQuoteToken(token, SECRET, { now: claims.expiresAt })), expired);
    assert.equal(
      await refusal(verifyQuoteToken(token, SECRET, { now: new Date(claims.expiresAt.getTime() + 3_600_000) })),
      expired,
    );
    // A tampered expired token is invalid, not expired: the signature is checked first.
    assert.equal(
      await refusal(verifyQuoteToken(`${token.slice(0, -2)}xx`, SECRET, { now: claims.expiresAt })),
      INVALID,
    );
  });

  it("return an expired quote's claims when the caller decides about expiry itself, but never a tampered one's", async () => {
    const token = await signQuoteToken(claims, SECRET);
    const later = new Date(claims.expiresAt.getTime() + 3_600_000);
    assert.deepEqual(await verifyQuoteToken(token, SECRET, { now: later, allowExpired: true }), claims);
    assert.equal(
      await refusal(verifyQuoteToken(`${token.slice(0, -2)}xx`, SECRET, { now: later, allowExpired: true })),
      INVALID,
    );
    assert.equal(
      await refusal(verifyQuoteToken(token, "another-secret-0123456789abcdefgh", { now: later, allowExpired: true })),
      INVALID,
    );
  });

  it("refuse a quote made for another customer when asked to check", async () => {
    const token = await signQuoteToken(claims, SECRET);
    assert.equal(
      await refusal(verifyQuoteToken(token, SECRET, { ...during, customerId: "someone-else" })),
      `${GrpcCode.PERMISSION_DENIED}:QUOTE_NOT_YOURS:quote_token`,
    );
  });

  it("accept earlier keys while they are rotated out", async () => {
    const token = await signQuoteToken(claims, SECRET);
    assert.deepEqual(await verifyQuoteToken(token, ["the-new-secret-0123456789abcdefgh", SECRET], during), claims);
    assert.equal(await refusal(verifyQuoteToken(token, ["the-new-secret-0123456789abcdefgh"], during)), INVALID);
  });
});
