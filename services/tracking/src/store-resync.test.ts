/**
 * StoreResync's own rules, on the in-process store: it rebuilds only when the marker was
 * missing, pages through the source to the end, puts trip flags back, tries a failed rebuild
 * again, and stops at once even while it waits to try again.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLogger } from "@weelo/log";
import { until } from "@weelo/testing";
import { availabilitySink } from "./availability.js";
import { MemoryPositionStore } from "./position-store.js";
import { StoreResync, type OnlineDriverSource } from "./store-resync.js";

const logger = createLogger({ service: "store-resync-test", level: "silent" });

function setup(source: OnlineDriverSource, marker: { present: boolean }, onTrip: string[] = [], retryMs = 10) {
  const store = new MemoryPositionStore(7);
  const sink = availabilitySink(store);
  const resync = new StoreResync({
    claimMarker: async () => {
      const missing = !marker.present;
      marker.present = true;
      return missing;
    },
    fleet: source,
    availability: sink,
    driversOnTrips: () => onTrip,
    setOnTrip: (driverId, flag) => store.setOnTrip(driverId, flag),
    logger,
    checkEveryMs: 20,
    retryMs,
  });
  return { store, sink, resync };
}

const driver = (id: string, sequence = 3) => ({
  driverId: id,
  transporterId: `t-${id}`,
  vehicleId: `v-${id}`,
  vehicleType: "lcv_17ft",
  sequence,
});

describe("StoreResync", () => {
  it("rebuilds only when the marker was missing, through every page, with the trip flags", async () => {
    const pages: Record<string, { drivers: ReturnType<typeof driver>[]; nextPageToken: string }> = {
      "": { drivers: [driver("a"), driver("b")], nextPageToken: "p2" },
      p2: { drivers: [driver("c")], nextPageToken: "" },
    };
    const asked: string[] = [];
    const marker = { present: true };
    const { store, sink, resync } = setup(
      {
        listOnlineDrivers: async (request) => {
          asked.push(request.pageToken);
          return pages[request.pageToken]!;
        },
      },
      marker,
      ["b"],
    );
    // Fleet's events were applied before the loss: the same sequences must not hide the rebuild.
    await sink.apply("a", { online: true, vehicleType: "lcv_17ft", vehicleId: "v-a", transporterId: "t-a" }, 3);
    resync.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 80));
      assert.equal(resync.rebuilds, 0, "the marker is there: nothing to rebuild");
      assert.deepEqual(asked, []);

      await store.setAvailability("a", { online: false, vehicleType: "", vehicleId: "", transporterId: "" }); // "lost"
      marker.present = false;
      await until("rebuilt", () => resync.rebuilds === 1, 2000, 5);
      assert.deepEqual(asked, ["", "p2"]);
      for (const id of ["a", "b", "c"]) {
        const stored = await store.get(id);
        assert.deepEqual(stored?.availability, {
          online: true,
          vehicleType: "lcv_17ft",
          vehicleId: `v-${id}`,
          transporterId: `t-${id}`,
        });
      }
      assert.equal((await store.get("b"))?.onTrip, true, "the trip flag is back");
      assert.equal((await store.get("a"))?.onTrip, false);
      // An event older than fleet's answer is still ignored after the rebuild.
      await sink.apply("c", { online: false, vehicleType: "lcv_17ft", vehicleId: "v-c", transporterId: "t-c" }, 2);
      assert.equal((await store.get("c"))?.availability?.online, true);
    } finally {
      await resync.stop();
    }
  });

  it("tries a failed rebuild again, and stops at once while it waits", async () => {
    let calls = 0;
    const marker = { present: false };
    const { store, resync } = setup(
      {
        listOnlineDrivers: async () => {
          calls += 1;
          if (calls <= 2) throw new Error("fleet is unavailable");
          return { drivers: [driver("x")], nextPageToken: "" };
        },
      },
      marker,
    );
    resync.start();
    await until("rebuilt on the third try", () => resync.rebuilds === 1, 2000, 5);
    assert.equal(calls, 3);
    assert.equal((await store.get("x"))?.availability?.online, true);
    await resync.stop();

    // A source that never answers: stop() does not wait out the backoff.
    const slow = setup(
      { listOnlineDrivers: async () => Promise.reject(new Error("down")) },
      { present: false },
      [],
      60_000,
    ).resync;
    slow.start();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    await slow.stop();
    assert.ok(performance.now() - started < 1000, "stopped without waiting for the retry");
    assert.equal(slow.rebuilds, 0);
  });
});
