/** Identity's configuration: the operations allow-list (OPS_PHONES) and what production refuses. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "@weelo/config";
import {
  DEV_OPS_PHONE,
  identityConfigSchema,
  identityProductionRules,
  loadIdentityConfig,
  opsPhonesOf,
} from "./identity.config.js";

const problemsOf = (load: () => unknown) => {
  try {
    load();
    return [];
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems;
  }
};

/** Production settings that pass every rule but the one a test looks at. */
const production = {
  NODE_ENV: "production",
  DATABASE_URL: "postgres://db/weelo",
  REDIS_URL: "redis://cache:6379",
  NATS_URL: "nats://bus:4222",
  JWT_PUBLIC_JWKS: '{"keys":[]}',
  SMS_PROVIDER: "msg91",
  MSG91_AUTH_KEY: "key",
  MSG91_TEMPLATE_ID: "template",
  OTP_HASH_SECRET: "an-otp-hash-secret-of-at-least-32-characters",
  JWT_PRIVATE_KEY: "pem",
  JWT_KEY_ID: "k1",
  FLEET_GRPC_URL: "dns:///fleet-grpc:50052",
};

describe("identity config: OPS_PHONES", () => {
  it("normalises every phone of the list and drops repeats and blanks", () => {
    const config = loadIdentityConfig({ OPS_PHONES: " 9876543210, +91 98765 43211,,09876543210 " });
    assert.deepEqual(config.OPS_PHONES, ["+919876543210", "+919876543211"]);
    assert.deepEqual(opsPhonesOf(config), ["+919876543210", "+919876543211"]);
  });

  it("names an entry that is not a phone", () => {
    const problems = problemsOf(() => loadIdentityConfig({ OPS_PHONES: "9876543210,12345" }));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /OPS_PHONES.*"12345"/);
  });

  it("set but empty means nobody, in development too", () => {
    assert.deepEqual(opsPhonesOf(loadIdentityConfig({ OPS_PHONES: "" })), []);
  });

  it("unset gives the development ops phone outside production, and nobody in production", () => {
    assert.deepEqual(opsPhonesOf(loadIdentityConfig({})), [DEV_OPS_PHONE]);
    const parsed = identityConfigSchema.parse({ ...production });
    assert.equal(parsed.OPS_PHONES, undefined);
    assert.deepEqual(opsPhonesOf(parsed), []);
  });

  it("production refuses the development ops phone and accepts the team's own", () => {
    const withDevPhone = identityConfigSchema.parse({ ...production, OPS_PHONES: `9876543210,${DEV_OPS_PHONE}` });
    const refusals = identityProductionRules.map((rule) => rule(withDevPhone)).filter(Boolean);
    assert.equal(refusals.length, 1);
    assert.match(String(refusals[0]), /OPS_PHONES lists the development operations phone/);
    assert.deepEqual(
      problemsOf(() => loadIdentityConfig({ ...production, OPS_PHONES: "9876543210" })),
      [],
    );
  });
});
