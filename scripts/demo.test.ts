/**
 * `npm run demo`'s journey against the whole system in this process: every step of the
 * README's story must pass (the CLI runs the same function against a running system).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createNodeWeeloClient } from "@weelo/client/node";
import { startTestSystem, type TestSystem } from "../clients/weelo-client/src/test-system.js";
import { playJourney } from "./demo/journey.js";

describe("npm run demo: the README's journey", () => {
  let system: TestSystem;
  before(async () => {
    system = await startTestSystem({ OTP_RESEND_COOLDOWN_S: "0" });
  });
  after(async () => {
    await system?.stop();
  });

  it("customer books, transporter accepts and assigns, driver delivers, the inbox tells it", async () => {
    const lines: string[] = [];
    const app = () => createNodeWeeloClient({ baseUrl: system.url });
    const result = await playJourney({ customer: app(), transporter: app(), driver: app() }, (line) =>
      lines.push(line),
    );
    assert.deepEqual(result.statuses, [
      "PENDING",
      "CONFIRMED",
      "ASSIGNED",
      "DRIVER_EN_ROUTE",
      "AT_PICKUP",
      "IN_TRANSIT",
      "AT_DROPOFF",
      "COMPLETED",
    ]);
    assert.ok(result.pointsAcked > 30n, `points acknowledged: ${result.pointsAcked}`);
    assert.ok(result.inbox > 0, "the customer's inbox has the booking's story");
    for (const step of ["1. transporter", "2. driver", "3. customer", "4. transporter", "5. driver", "6. delivered"])
      assert.ok(
        lines.some((line) => line.startsWith(step)),
        `the step "${step}" was printed`,
      );
  });
});
