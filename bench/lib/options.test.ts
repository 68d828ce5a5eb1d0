import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { MeasureScenario, Scenario } from "./scenario.js";
import { loadScenarios, selectScenarios } from "../scenarios/_registry.js";
import { applyQuickDefaults, parseBenchArgs, QUICK_DEFAULTS, zeroThroughput } from "./options.js";

describe("bench arguments and quick mode", () => {
  it("reads --quick from the arguments or BENCH_QUICK, and refuses an unknown argument", () => {
    assert.deepEqual(parseBenchArgs([], {}), { quick: false, help: false });
    assert.deepEqual(parseBenchArgs(["--quick"], {}), { quick: true, help: false });
    assert.deepEqual(parseBenchArgs([], { BENCH_QUICK: "1" }), { quick: true, help: false });
    assert.deepEqual(parseBenchArgs(["--help"], {}), { quick: false, help: true });
    assert.throws(() => parseBenchArgs(["--fast"], {}), /unknown argument "--fast"/);
  });

  it("fills in only the settings the environment leaves unset, and marks the run quick", () => {
    const env: Record<string, string | undefined> = { BENCH_DURATION_S: "6", BENCH_CONNECTIONS: "" };
    const filled = applyQuickDefaults(env);
    assert.equal(env.BENCH_DURATION_S, "6", "an explicit duration is kept");
    assert.equal(env.BENCH_CONNECTIONS, QUICK_DEFAULTS.BENCH_CONNECTIONS, "an empty setting counts as unset");
    assert.equal(env.BENCH_TRACKING_STREAMS, "200");
    assert.equal(env.BENCH_QUICK, "1");
    assert.equal(filled.BENCH_DURATION_S, undefined);
    assert.equal(filled.BENCH_DRIVERS, "500");
  });

  it("calls a measure scenario broken when every throughput figure is zero, not when one is", () => {
    const moved = zeroThroughput([
      { label: "goodput", value: 12, unit: "req/s" },
      { label: "refused under overload", value: 0, unit: "req/s" },
      { label: "refused in the capacity run", value: 0, unit: "calls" },
    ]);
    assert.deepEqual(moved, []);
    const stuck = zeroThroughput([
      { label: "accepted points/s", value: 0, unit: "points/s" },
      { label: "answered", value: Number.NaN, unit: "req/s" },
      { label: "p99", value: 0, unit: "ms" },
    ]);
    assert.equal(stuck.length, 1);
    assert.match(stuck[0]!, /every throughput figure is zero \(accepted points\/s, answered\)/);
    assert.deepEqual(zeroThroughput([{ label: "p99", value: 0, unit: "ms" }]), [], "no rate, nothing to judge");
  });
});

describe("bench scenario registry", () => {
  const http = (name: string, extra: Partial<Scenario> = {}): Scenario => ({
    name,
    start: async () => {
      throw new Error("not started in this test");
    },
    ...extra,
  });
  const measure = (name: string): MeasureScenario => ({ name, measure: async () => ({ figures: [], checks: [] }) });
  const all = [
    http("connect-grpc-hop"),
    http("kysely-insert"),
    http("gateway-get-me", { target: { vs: "connect-grpc-hop", ratio: 0.9 } }),
    http("gateway-create-booking-mesh", { target: { vs: "kysely-insert", ratio: 0.2 }, beside: ["connect-grpc-hop"] }),
    measure("tracking-streams"),
  ];
  const names = (only: string | undefined) => selectScenarios(all, only).map((s) => s.name);

  it("picks by name or glob, and brings along what a picked scenario is judged against or read beside", () => {
    assert.deepEqual(
      names(undefined),
      all.map((s) => s.name),
    );
    assert.deepEqual(names("none"), []);
    assert.deepEqual(names("tracking-streams"), ["tracking-streams"]);
    assert.deepEqual(names("gateway-get-me"), ["connect-grpc-hop", "gateway-get-me"]);
    assert.deepEqual(names("*-mesh"), ["connect-grpc-hop", "kysely-insert", "gateway-create-booking-mesh"]);
    assert.throws(() => names("no-such-scenario"), /matches no scenario/);
  });

  it("discovers every scenario file, names unique, the issue's names among them", async () => {
    const found = (await loadScenarios()).map((s) => s.name);
    assert.equal(new Set(found).size, found.length);
    for (const name of [
      "connect-grpc-hop",
      "connect-grpc-hop-mtls",
      "gateway-get-me",
      "gateway-get-me-plaintext",
      "gateway-get-quote",
      "gateway-list-bookings",
      "gateway-create-booking",
      "gateway-overload",
      "gateway-overload-booking",
      "kysely-insert",
      "tracking-streams",
      "dispatch-offer-latency",
    ])
      assert.ok(found.includes(name), `${name} is a scenario`);
  });
});
