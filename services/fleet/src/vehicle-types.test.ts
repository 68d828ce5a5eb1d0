import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DomainError, GrpcCode } from "@weelo/errors";
import { createLogger } from "@weelo/log";
import { sleep } from "@weelo/testing";
import { pricingVehicleTypeCatalog, staticVehicleTypeCatalog, type VehicleTypeSource } from "./vehicle-types.js";

const logger = createLogger({ service: "test", level: "silent" });

function fakePricing(ids: string[]) {
  const state = { calls: 0, down: false, ids };
  const source: VehicleTypeSource = {
    async listVehicleTypes() {
      state.calls++;
      await sleep(5);
      if (state.down) throw new DomainError(GrpcCode.UNAVAILABLE, "pricing is down");
      return {
        vehicleTypes: state.ids.map((id) => ({ id, displayName: id, description: "", capacityKg: 1000, bodyType: 1 })),
      };
    },
  };
  return { state, source };
}

describe("vehicle type catalogs", () => {
  it("answers from a static list", async () => {
    const catalog = staticVehicleTypeCatalog(["mini_truck", "trailer"]);
    assert.equal(await catalog.has("trailer"), true);
    assert.equal(await catalog.has("hovercraft"), false);
  });

  it("asks pricing once per TTL, sharing one call between concurrent misses", async () => {
    const { state, source } = fakePricing(["mini_truck", "lcv_14ft"]);
    const catalog = pricingVehicleTypeCatalog(source, { ttlMs: 60_000, logger });
    const answers = await Promise.all([catalog.has("mini_truck"), catalog.has("lcv_14ft"), catalog.has("hovercraft")]);
    assert.deepEqual(answers, [true, true, false]);
    assert.equal(await catalog.has("mini_truck"), true);
    assert.equal(state.calls, 1);
  });

  it("refreshes after the TTL and keeps the last catalog while pricing is down", async () => {
    const { state, source } = fakePricing(["mini_truck"]);
    const catalog = pricingVehicleTypeCatalog(source, { ttlMs: 20, logger });
    assert.equal(await catalog.has("trailer"), false);
    state.ids = ["mini_truck", "trailer"];
    await sleep(30);
    assert.equal(await catalog.has("trailer"), true, "a type added to pricing is seen after the TTL");
    state.down = true;
    await sleep(30);
    assert.equal(await catalog.has("trailer"), true, "the last catalog is used while pricing is down");
  });

  it("fails UNAVAILABLE when pricing never answered", async () => {
    const { state, source } = fakePricing([]);
    state.down = true;
    const catalog = pricingVehicleTypeCatalog(source, { ttlMs: 60_000, logger });
    await assert.rejects(
      catalog.has("mini_truck"),
      (error: unknown) => error instanceof DomainError && error.code === GrpcCode.UNAVAILABLE,
    );
  });
});
