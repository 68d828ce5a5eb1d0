/** The report's arithmetic: percentiles by nearest rank, summaries, rates, the rate meter, the table. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatMs, percentile, rate, RateMeter, summarize, table } from "./stats.js";

describe("stats", () => {
  it("takes percentiles by nearest rank, whatever the input order", () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 … 1
    assert.equal(percentile(values, 0.5), 50);
    assert.equal(percentile(values, 0.95), 95);
    assert.equal(percentile(values, 0.99), 99);
    assert.equal(percentile(values, 1), 100);
    assert.equal(percentile(values, 0), 1);
    assert.equal(percentile([7], 0.99), 7);
    assert.equal(percentile([], 0.5), null);
    assert.throws(() => percentile([1], 1.5), RangeError);
    assert.deepEqual(values.slice(0, 3), [100, 99, 98], "the input is not sorted in place");
  });

  it("summarizes durations and says nothing for no values", () => {
    assert.deepEqual(summarize([10, 20, 30, 40]), { count: 4, p50: 20, p95: 40, p99: 40, max: 40, mean: 25 });
    assert.deepEqual(summarize([]), { count: 0, p50: null, p95: null, p99: null, max: null, mean: null });
  });

  it("rounds rates to four places and has none of nothing", () => {
    assert.equal(rate(1, 3), 0.3333);
    assert.equal(rate(0, 0), null);
    assert.equal(rate(5, 5), 1);
  });

  it("measures a rate over a sliding window", () => {
    const meter = new RateMeter(1000);
    meter.add(10, 1000);
    meter.add(5, 1500);
    assert.equal(meter.perSecond(1900), 15);
    assert.equal(meter.perSecond(2200), 5, "the first ten left the window");
    assert.equal(meter.perSecond(5000), 0);
  });

  it("formats durations and aligns tables", () => {
    assert.equal(formatMs(null), "–");
    assert.equal(formatMs(850.4), "850 ms");
    assert.equal(formatMs(1234), "1.2 s");
    assert.equal(formatMs(180_000), "3.0 min");
    assert.equal(
      table(
        ["a", "n"],
        [
          ["long name", "1"],
          ["b", "100"],
        ],
      ),
      ["a            n", "---------  ---", "long name    1", "b          100"].join("\n"),
    );
  });
});
