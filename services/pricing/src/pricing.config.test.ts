/** Pricing's configuration: defaults, bad values named, and what production refuses. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "@weelo/config";
import { DEV_QUOTE_SIGNING_SECRET, loadPricingConfig } from "./pricing.config.js";

const problemsOf = (env: Record<string, string>) => {
  try {
    loadPricingConfig(env);
    return [];
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems;
  }
};

/** Everything production needs apart from pricing's own settings. */
const productionBase = {
  NODE_ENV: "production",
  DATABASE_URL: "postgres://db/weelo",
  REDIS_URL: "redis://cache:6379",
  NATS_URL: "nats://bus:4222",
  JWT_PUBLIC_JWKS: '{"keys":[]}',
  TRACKING_GRPC_URL: "dns:///tracking-grpc:50052",
};

describe("pricing config", () => {
  it("has working defaults for development", () => {
    const config = loadPricingConfig({});
    assert.equal(config.QUOTE_TTL_S, 600);
    assert.equal(config.QUOTE_SIGNING_SECRET, DEV_QUOTE_SIGNING_SECRET);
    assert.equal(config.ROUTING_URL, undefined);
    assert.equal(config.ROUTING_TIMEOUT_MS, 2000);
    assert.equal(config.ROAD_FACTOR, 1.3);
    assert.equal(config.NIGHT_START_IST, "22:00");
    assert.equal(config.NIGHT_END_IST, "06:00");
    assert.equal(config.NIGHT_CHARGE_BPS, 1000);
    assert.equal(config.GST_RATE_BPS, 500);
    assert.equal(config.SURGE_CAP, 2);
    assert.equal(config.SURGE_FACTOR, 0.5);
    assert.equal(config.SURGE_H3_RESOLUTION, 7);
    assert.ok(Object.isFrozen(config));
  });

  it("names every bad variable", () => {
    const problems = problemsOf({
      NIGHT_START_IST: "10pm",
      ROAD_FACTOR: "0.5",
      GST_RATE_BPS: "-5",
      QUOTE_SIGNING_SECRET: "short",
    });
    for (const name of ["NIGHT_START_IST", "ROAD_FACTOR", "GST_RATE_BPS", "QUOTE_SIGNING_SECRET"]) {
      assert.ok(
        problems.some((p) => p.startsWith(`${name}:`)),
        `${name} in ${problems.join("; ")}`,
      );
    }
    assert.deepEqual(problemsOf({ ROUTING_URL: "osrm:5000" }), ["ROUTING_URL must be an http(s) URL"]);
    assert.equal(loadPricingConfig({ ROUTING_URL: "http://osrm:5000" }).ROUTING_URL, "http://osrm:5000");
  });

  it("refuses the development quote secret in production", () => {
    assert.deepEqual(problemsOf(productionBase), [
      "QUOTE_SIGNING_SECRET must be set to a secret of at least 32 characters in production",
    ]);
    assert.deepEqual(problemsOf({ ...productionBase, QUOTE_SIGNING_SECRET: "only-twenty-characters" }).length, 1);
    assert.deepEqual(
      problemsOf({ ...productionBase, QUOTE_SIGNING_SECRET: "a-real-secret-of-forty-characters-123456" }),
      [],
    );
  });

  it("needs TRACKING_GRPC_URL in production when pricing runs alone: surge counts supply at tracking", () => {
    const { TRACKING_GRPC_URL: _tracking, ...withoutTracking } = productionBase;
    assert.deepEqual(
      problemsOf({ ...withoutTracking, QUOTE_SIGNING_SECRET: "a-real-secret-of-forty-characters-123456" }),
      ["TRACKING_GRPC_URL must be set in production: surge counts available drivers at tracking"],
    );
    const config = loadPricingConfig({});
    assert.equal(config.TRACKING_GRPC_URL, undefined, "development: this process's own mesh port");
    assert.equal(config.SURGE_SUPPLY_CACHE_MS, 3000);
    assert.equal(config.SURGE_SUPPLY_TIMEOUT_MS, 300);
    assert.equal(config.BOOKING_SUBJECT_ROOT, "booking");
  });
});
