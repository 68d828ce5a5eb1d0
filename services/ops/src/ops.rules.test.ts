/** The ops service's pure rules: the funnel's window and merge, the replay hash, the audit's reason. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DomainError } from "@weelo/errors";
import { auditReason, errorText, funnelWindow, HOUR_MS, mergeFunnel, requestHash } from "./ops.rules.js";

const at = (iso: string) => new Date(iso);

describe("ops rules", () => {
  it("takes the last 24 whole hours by default, rounding to the hour", () => {
    const window = funnelWindow(undefined, undefined, at("2026-12-07T10:20:00Z"));
    assert.equal(window.to.toISOString(), "2026-12-07T11:00:00.000Z");
    assert.equal(window.from.toISOString(), "2026-12-06T11:00:00.000Z");
    const given = funnelWindow(at("2026-12-01T05:59:59Z"), at("2026-12-01T08:00:00Z"), at("2026-12-07T00:00:00Z"));
    assert.deepEqual(
      [given.from.toISOString(), given.to.toISOString()],
      ["2026-12-01T05:00:00.000Z", "2026-12-01T08:00:00.000Z"],
    );
  });

  it("refuses an empty window and one longer than 7 days", () => {
    const now = at("2026-12-07T00:00:00Z");
    assert.throws(
      () => funnelWindow(at("2026-12-05T00:00:00Z"), at("2026-12-04T00:00:00Z"), now),
      (e: DomainError) => e.field === "from",
    );
    assert.throws(
      () => funnelWindow(at("2026-11-01T00:00:00Z"), at("2026-11-08T01:00:00Z"), now),
      (e: DomainError) => e.field === "to",
    );
    assert.equal(
      funnelWindow(at("2026-11-01T00:00:00Z"), at("2026-11-08T00:00:00Z"), now).to.getTime() -
        at("2026-11-01T00:00:00Z").getTime(),
      168 * HOUR_MS,
    );
  });

  it("merges booking's and dispatch's hours into one row per hour, empty hours included", () => {
    const window = { from: at("2026-12-07T00:00:00Z"), to: at("2026-12-07T03:00:00Z") };
    const rows = mergeFunnel(
      window,
      [
        {
          hourStart: at("2026-12-07T01:00:00Z"),
          ordersCreated: 2,
          bookingsCreated: 3,
          assigned: 1,
          completed: 1,
          expired: 1,
          cancelled: 1,
        },
        {
          hourStart: at("2026-12-08T01:00:00Z"),
          ordersCreated: 9,
          bookingsCreated: 9,
          assigned: 9,
          completed: 9,
          expired: 9,
          cancelled: 9,
        },
      ],
      [{ hourStart: at("2026-12-07T01:00:00Z"), waves: 4, offers: 10, accepted: 2, offersExpired: 7 }],
    );
    assert.deepEqual(
      rows.map((r) => r.hourStart!.toISOString().slice(11, 13)),
      ["00", "01", "02"],
    );
    assert.deepEqual(rows[0], { ...rows[0], orders: 0, offers: 0, cancelled: 0 });
    assert.deepEqual(
      { ...rows[1], hourStart: undefined },
      {
        hourStart: undefined,
        orders: 2,
        bookings: 3,
        waves: 4,
        offers: 10,
        accepted: 2,
        assigned: 1,
        completed: 1,
        offersExpired: 7,
        expired: 1,
        cancelled: 1,
      },
    );
  });

  it("hashes what was asked, so a reused key is told from a replay", () => {
    const a = requestHash("reassign_driver", "b1", "late", "d1", "v1");
    assert.equal(a, requestHash("reassign_driver", "b1", "late", "d1", "v1"));
    assert.notEqual(a, requestHash("reassign_driver", "b1", "late", "d2", "v1"));
    assert.notEqual(requestHash("cancel_booking", "b1", "x"), requestHash("reopen_booking", "b1", "x"));
  });

  it("keeps a reason trimmed and refuses a blank or control-character one", () => {
    assert.equal(auditReason("  customer asked  "), "customer asked");
    assert.throws(
      () => auditReason("   "),
      (e: DomainError) => e.reason === "TEXT_LENGTH",
    );
    assert.throws(
      () => auditReason("bad\u0007"),
      (e: DomainError) => e.field === "reason",
    );
  });

  it("keeps an owner's error as one line with its reason", () => {
    const error = Object.assign(new Error("booking is\ncompleted"), { reason: "ILLEGAL_STATUS_TRANSITION" });
    assert.equal(errorText(error), "ILLEGAL_STATUS_TRANSITION: booking is completed");
  });
});
