import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { baseConfigSchema, ConfigError, loadConfig, z } from "./index.js";

describe("loadConfig", () => {
  it("fills defaults and freezes the result", () => {
    const config = loadConfig(baseConfigSchema, {});
    assert.equal(config.GRPC_PORT, 50051);
    assert.equal(config.DB_POOL_MIN, 5);
    assert.equal(config.DB_POOL_MAX, 50);
    assert.equal(config.DB_POOL_IDLE_MS, 30_000);
    assert.equal(config.DATABASE_URL, undefined);
    assert.ok(Object.isFrozen(config));
  });

  it("names every bad variable at once", () => {
    assert.throws(
      () => loadConfig(baseConfigSchema, { GRPC_PORT: "seventy", LOG_LEVEL: "loud", DB_POOL_MAX: "0" }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.deepEqual(error.problems.map((p) => p.split(":")[0]).sort(), ["DB_POOL_MAX", "GRPC_PORT", "LOG_LEVEL"]);
        return true;
      },
    );
  });

  it("refuses the development-only settings in production", () => {
    assert.throws(
      () => loadConfig(baseConfigSchema, { NODE_ENV: "production", LOG_PRETTY: "true" }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.problems.some(
          (p) =>
            p.includes("DATABASE_URL") &&
            p.includes("REDIS_URL") &&
            p.includes("NATS_URL") &&
            p.includes("JWT_PUBLIC_JWKS"),
        ) &&
        error.problems.some((p) => p.startsWith("LOG_PRETTY")),
    );
    const production = loadConfig(baseConfigSchema, {
      NODE_ENV: "production",
      DATABASE_URL: "postgres://db/weelo",
      REDIS_URL: "redis://cache",
      NATS_URL: "nats://bus",
      JWT_PUBLIC_JWKS: '{"keys":[]}',
    });
    assert.equal(production.NODE_ENV, "production");
  });

  it("refuses REPLACE_ME/CHANGE_ME placeholders in any setting in production, naming each", () => {
    const servers = {
      NODE_ENV: "production",
      DATABASE_URL: "postgres://db/weelo",
      REDIS_URL: "redis://cache",
      NATS_URL: "nats://bus",
      JWT_PUBLIC_JWKS: '{"keys":[]}',
    };
    const schema = baseConfigSchema.extend({
      OTP_HASH_SECRET: z.string().optional(),
      SMS_API_KEY: z.string().optional(),
    });
    assert.throws(
      () =>
        loadConfig(schema, {
          ...servers,
          DATABASE_URL: "postgres://weelo:REPLACE_ME_db_password@db/weelo",
          OTP_HASH_SECRET: "replace_me-with-32-random-bytes-please",
          SMS_API_KEY: "Change_Me",
          JWT_ISSUER: "weelo",
        }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.deepEqual(error.problems.map((p) => p.split(":")[0]).sort(), [
          "DATABASE_URL",
          "OTP_HASH_SECRET",
          "SMS_API_KEY",
        ]);
        assert.ok(error.problems.every((p) => /placeholder/.test(p)));
        return true;
      },
    );
    // Outside production a template's value is only a value.
    assert.equal(loadConfig(schema, { SMS_API_KEY: "CHANGE_ME" }).SMS_API_KEY, "CHANGE_ME");
    assert.equal(loadConfig(schema, { ...servers, SMS_API_KEY: "real-key" }).SMS_API_KEY, "real-key");
  });

  it("reads NATS_STREAM_REPLICAS: 1 unless set, 1 to 5", () => {
    assert.equal(loadConfig(baseConfigSchema, {}).NATS_STREAM_REPLICAS, 1);
    assert.equal(loadConfig(baseConfigSchema, { NATS_STREAM_REPLICAS: "3" }).NATS_STREAM_REPLICAS, 3);
    for (const bad of ["0", "6", "two"]) {
      assert.throws(
        () => loadConfig(baseConfigSchema, { NATS_STREAM_REPLICAS: bad }),
        (error: unknown) => error instanceof ConfigError && error.problems[0]!.startsWith("NATS_STREAM_REPLICAS"),
      );
    }
  });

  it("refuses a database URL to a process without a database in production, and needs none there", () => {
    const servers = {
      NODE_ENV: "production",
      REDIS_URL: "redis://cache",
      NATS_URL: "nats://bus",
      JWT_PUBLIC_JWKS: "{}",
    };
    assert.throws(
      () =>
        loadConfig(baseConfigSchema, { ...servers, DATABASE_URL: "postgres://db/weelo" }, [], [], { database: false }),
      (error: unknown) =>
        error instanceof ConfigError && error.problems.some((p) => p.startsWith("DATABASE_URL must not be set")),
    );
    assert.equal(loadConfig(baseConfigSchema, servers, [], [], { database: false }).DATABASE_URL, undefined);
    // A process with a database still needs one.
    assert.throws(() => loadConfig(baseConfigSchema, servers), /DATABASE_URL/);
  });

  it("reads MIGRATE_ON_START as yes, no or unset (then the environment decides)", () => {
    assert.equal(loadConfig(baseConfigSchema, {}).MIGRATE_ON_START, undefined);
    assert.equal(loadConfig(baseConfigSchema, { MIGRATE_ON_START: "false" }).MIGRATE_ON_START, false);
    assert.equal(loadConfig(baseConfigSchema, { MIGRATE_ON_START: "1" }).MIGRATE_ON_START, true);
    assert.throws(() => loadConfig(baseConfigSchema, { MIGRATE_ON_START: "sometimes" }), /MIGRATE_ON_START/);
  });

  it("applies a service's own rules", () => {
    const rule = (c: { DATA_DIR: string }) => (c.DATA_DIR === "/" ? "DATA_DIR must not be /" : undefined);
    assert.throws(() => loadConfig(baseConfigSchema, { DATA_DIR: "/" }, [], [rule]), /DATA_DIR must not be \//);
  });
});
