/** The reconnect wait: grows with the attempt up to its cap, and is spread by jitter. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backoffMs } from "./backoff.js";

describe("backoffMs", () => {
  it("doubles per attempt up to the cap, never below half of it", () => {
    assert.equal(
      backoffMs(1, 200, 3000, () => 1),
      400,
    );
    assert.equal(
      backoffMs(3, 200, 3000, () => 1),
      1600,
    );
    assert.equal(
      backoffMs(10, 200, 3000, () => 1),
      3000,
    );
    assert.equal(
      backoffMs(10, 200, 3000, () => 0),
      1500,
    );
    assert.equal(
      backoffMs(1, 200, 3000, () => 0),
      200,
    );
  });

  it("spreads the apps that broke at the same moment over half of the wait", () => {
    const waits = Array.from({ length: 200 }, () => backoffMs(4, 200, 3000));
    for (const wait of waits) assert.ok(wait >= 1500 && wait <= 3000, String(wait));
    assert.ok(new Set(waits).size > 50, `spread: ${new Set(waits).size} distinct waits of 200`);
  });
});
