import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { baseConfigSchema, ConfigError, loadConfig } from "./index.js";

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
        error.problems.some((p) => p.includes("DATABASE_URL") && p.includes("REDIS_URL") && p.includes("NATS_URL") && p.includes("JWT_PUBLIC_JWKS")) &&
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

  it("applies a service's own rules", () => {
    const rule = (c: { DATA_DIR: string }) => (c.DATA_DIR === "/" ? "DATA_DIR must not be /" : undefined);
    assert.throws(() => loadConfig(baseConfigSchema, { DATA_DIR: "/" }, [], [rule]), /DATA_DIR must not be \//);
  });
});
