/** The NATS subject rules the in-process bus relies on. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  assertFilterSubject,
  assertPublishSubject,
  filtersOverlap,
  subjectFamily,
  subjectMatches,
} from "./subjects.js";
import { retryDelayMs } from "./delivery.js";

describe("subjects", () => {
  it("matches * to one token and > to one or more", () => {
    const cases: [string, string, boolean][] = [
      ["a.b", "a.b", true],
      ["a.b", "a.c", false],
      ["a.*", "a.b", true],
      ["a.*", "a.b.c", false],
      ["a.*", "a", false],
      ["a.>", "a.b", true],
      ["a.>", "a.b.c", true],
      ["a.>", "a", false],
      ["*.b.>", "x.b.y.z", true],
      ["*.b.>", "x.c.y", false],
      [">", "anything.at.all", true],
      ["a.*.c", "a.b.c", true],
      ["a.*.c", "a.b.d", false],
    ];
    for (const [filter, subject, expected] of cases)
      assert.equal(subjectMatches(filter, subject), expected, `${filter} ~ ${subject}`);
  });

  it("detects overlapping stream subjects", () => {
    assert.equal(filtersOverlap("booking.>", "booking.created"), true);
    assert.equal(filtersOverlap("booking.*", "booking.created.x"), false);
    assert.equal(filtersOverlap("booking.*", "*.created"), true);
    assert.equal(filtersOverlap("booking.>", "dispatch.>"), false);
    assert.equal(filtersOverlap("a.b", "a.b.c"), false);
    assert.equal(filtersOverlap("a.*.c", "a.>"), true);
  });

  it("validates subjects", () => {
    assert.doesNotThrow(() => assertPublishSubject("tracking.location.0198"));
    assert.throws(() => assertPublishSubject("tracking.*"), /wildcard/);
    assert.throws(() => assertPublishSubject(""), /invalid/);
    assert.throws(() => assertPublishSubject("a b"), /invalid/);
    assert.throws(() => assertFilterSubject("a.>.b"), /last/);
    assert.throws(() => assertFilterSubject("a.b*"), /whole tokens/);
    assert.doesNotThrow(() => assertFilterSubject("a.*.>"));
  });

  it("labels metrics with a bounded subject family", () => {
    assert.equal(subjectFamily("tracking.location.0198c7f2"), "tracking");
    assert.equal(subjectFamily("0198c7f2.x"), "other");
  });

  it("backs off retries exponentially, capped", () => {
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => retryDelayMs(1000, n)),
      [1000, 2000, 4000, 8000],
    );
    assert.equal(retryDelayMs(1000, 30), 60_000);
  });
});
