/** The in-process catalog: cached for its TTL, one query for concurrent readers, stale copy on a failed refresh. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLogger } from "@weelo/log";
import type { VehicleTypeRow } from "./pricing.table.js";
import { paise, VehicleCatalog } from "./vehicle-catalog.js";

const logger = createLogger({ service: "test", level: "silent" });

const row = (id: string, baseFare: string): VehicleTypeRow => ({
  id,
  display_name: id,
  description: "",
  capacity_kg: 750,
  body_type: "open",
  body_length_mm: 2200,
  body_width_mm: 1490,
  body_height_mm: 380,
  base_fare_paise: baseFare,
  per_km_paise: "1800",
  min_billable_km: 3,
  free_loading_minutes: 30,
  waiting_charge_per_minute_paise: "200",
  sort_order: 10,
  active: true,
  created_at: new Date(),
  updated_at: new Date(),
});

describe("vehicle catalog", () => {
  it("reads the database once per TTL, sharing one query between concurrent readers", async () => {
    let clock = 0;
    let loads = 0;
    let fare = "25000";
    const catalog = new VehicleCatalog(
      async () => {
        loads += 1;
        await new Promise((resolve) => setTimeout(resolve, 10));
        return [row("mini_truck", fare)];
      },
      { ttlMs: 30_000, logger, now: () => clock },
    );
    const [a, b] = await Promise.all([catalog.list(), catalog.find("mini_truck")]);
    assert.equal(loads, 1);
    assert.equal(a[0]?.fare.baseFarePaise, 25_000);
    assert.equal(b?.fare.perKmPaise, 1_800);
    assert.equal(await catalog.find("bike"), undefined);
    fare = "30000";
    clock = 29_999;
    assert.equal((await catalog.find("mini_truck"))?.fare.baseFarePaise, 25_000, "still fresh");
    clock = 30_000;
    assert.equal((await catalog.find("mini_truck"))?.fare.baseFarePaise, 30_000, "re-read after the TTL");
    assert.equal(loads, 2);
  });

  it("keeps serving the copy it has when a refresh fails, and fails when it has none", async () => {
    let clock = 0;
    let failing = false;
    const catalog = new VehicleCatalog(
      async () => {
        if (failing) throw new Error("connection refused");
        return [row("mini_truck", "25000")];
      },
      { ttlMs: 1000, logger, now: () => clock },
    );
    await catalog.list();
    failing = true;
    clock = 5000;
    assert.equal((await catalog.list()).length, 1);
    const empty = new VehicleCatalog(async () => Promise.reject(new Error("connection refused")), {
      ttlMs: 1000,
      logger,
    });
    await assert.rejects(empty.list(), /connection refused/);
  });

  it("reads bigint paise exactly and refuses what is not a whole amount", () => {
    assert.equal(paise("9007199254740991"), Number.MAX_SAFE_INTEGER);
    assert.throws(() => paise("9007199254740993"), RangeError);
    assert.throws(() => paise("12.5"), RangeError);
  });
});
