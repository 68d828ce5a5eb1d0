/** Booking's configuration: what production refuses when booking runs alone, and what the all-in-one leaves to itself. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, loadConfig } from "@weelo/config";
import { bookingConfigSchema, bookingProductionRules, loadBookingConfig } from "./booking.config.js";

const problemsOf = (env: Record<string, string>) => {
  try {
    loadBookingConfig(env);
    return [];
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems;
  }
};

/** Everything production needs apart from booking's own settings. */
const productionBase = {
  NODE_ENV: "production",
  DATABASE_URL: "postgres://db/weelo",
  REDIS_URL: "redis://cache:6379",
  NATS_URL: "nats://bus:4222",
  JWT_PUBLIC_JWKS: '{"keys":[]}',
};

describe("booking config", () => {
  it("needs PRICING_GRPC_URL in production when booking runs alone: every order redeems its quote there", () => {
    assert.deepEqual(problemsOf(productionBase), [
      "PRICING_GRPC_URL must be set in production: every order redeems its quote at pricing",
    ]);
    assert.deepEqual(problemsOf({ ...productionBase, PRICING_GRPC_URL: "dns:///pricing-grpc:50051" }), []);
    assert.equal(loadBookingConfig({}).PRICING_GRPC_URL, undefined, "development: this process's own gRPC port");
  });

  it("leaves pricing's address to the all-in-one (its own gRPC port) and holds no quote signing key", () => {
    const config = loadConfig(bookingConfigSchema, productionBase, bookingProductionRules);
    assert.equal(config.PRICING_GRPC_URL, undefined);
    assert.ok(!("QUOTE_SIGNING_SECRET" in config), "quote tokens are pricing's to check");
  });
});
