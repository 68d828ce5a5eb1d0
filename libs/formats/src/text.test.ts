/** plainText: the one check of free text every service applies. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GrpcCode, InvalidArgumentError } from "@weelo/errors";
import { plainText } from "./index.js";

const refusal = (fn: () => unknown): InvalidArgumentError => {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof InvalidArgumentError);
    assert.equal(error.code, GrpcCode.INVALID_ARGUMENT);
    return error;
  }
  assert.fail("expected INVALID_ARGUMENT");
};

describe("plainText", () => {
  it("keeps ordinary text in any script, trimmed", () => {
    assert.equal(plainText("  Anil Shinde ", "name"), "Anil Shinde");
    assert.equal(plainText("अनिल शिंदे", "name"), "अनिल शिंदे");
    assert.equal(plainText("محمد", "name"), "محمد", "right-to-left letters are text, not controls");
    assert.equal(plainText("Fragile 👍🏽, this side up", "notes"), "Fragile 👍🏽, this side up");
    assert.equal(plainText("", "line2"), "");
  });

  it("refuses control characters, naming the field, the character and where it is", () => {
    for (const bad of ["a\u0000b", "a\u0007", "a\u001bb", "a\u007fb", "a\u0085b", "a\nb", "a\tb", "a\u2028b"]) {
      const error = refusal(() => plainText(bad, "pickup.line1"));
      assert.equal(error.field, "pickup.line1");
      assert.equal(error.reason, "TEXT_CONTROL_CHARACTER");
      assert.match(
        error.message,
        /^pickup\.line1 must not contain control characters .*\(U\+[0-9A-F]{4} at character 2\)/,
      );
    }
  });

  it("allows line breaks and tabs only where the field is multi-line", () => {
    assert.equal(
      plainText("Gate 2\nAsk for Ravi\tafter 6", "notes", { multiline: true }),
      "Gate 2\nAsk for Ravi\tafter 6",
    );
    assert.equal(refusal(() => plainText("a\u0000\nb", "notes", { multiline: true })).reason, "TEXT_CONTROL_CHARACTER");
  });

  it("refuses bidi overrides, isolates and marks, and zero-width characters", () => {
    const hidden = [
      "\u202A",
      "\u202B",
      "\u202C",
      "\u202D",
      "\u202E",
      "\u2066",
      "\u2067",
      "\u2068",
      "\u2069",
      "\u200E",
      "\u200F",
      "\u061C",
      "\u200B",
      "\u200C",
      "\u200D",
      "\u2060",
      "\uFEFF",
    ];
    for (const ch of hidden) {
      const error = refusal(() => plainText(`An${ch}il`, "name"));
      assert.equal(error.field, "name");
      assert.equal(error.reason, "TEXT_INVISIBLE_CHARACTER");
      assert.match(
        error.message,
        new RegExp(`U\\+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")} at character 3`),
      );
    }
  });

  it("refuses broken surrogate pairs", () => {
    assert.equal(refusal(() => plainText("a\uD800b", "name")).reason, "TEXT_MALFORMED");
    assert.equal(refusal(() => plainText("a\uDC00", "name")).reason, "TEXT_MALFORMED");
  });

  it("refuses blank text where text is required (how long it may be is the contract's rule)", () => {
    const blank = refusal(() => plainText("   ", "goods_type", { required: true }));
    assert.deepEqual([blank.reason, blank.field], ["TEXT_LENGTH", "goods_type"]);
    assert.match(blank.message, /goods_type must not be blank/);
    assert.equal(plainText("x".repeat(1000), "notes"), "x".repeat(1000), "no length of its own");
  });
});
