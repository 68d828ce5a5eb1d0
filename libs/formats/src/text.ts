/**
 * Free text a person typed (names, addresses, reasons, notes): the one check every service
 * applies before storing it. Characters that change how text is shown rather than what it
 * says are refused, so a name cannot hide or reorder what an operator or another user reads
 * next to it (a right-to-left override turning "…gpj.exe" around), and nothing invisible
 * makes two names that look alike differ.
 */
import { InvalidArgumentError, type Reason } from "@weelo/errors";

export interface PlainTextOptions {
  /** Blank text (nothing but spaces) is refused. */
  required?: boolean;
  /** Line breaks and tabs are allowed (notes); everywhere else they are control characters like any other. */
  multiline?: boolean;
}

/** Bidi embeddings, overrides and isolates, the LRM/RLM marks and the Arabic letter mark. */
const BIDI = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/u;
/** Zero-width space, non-joiner, joiner, word joiner, and the byte-order mark. */
const ZERO_WIDTH = /[\u200B-\u200D\u2060\uFEFF]/u;
/** C0 and C1 control characters, and lines/paragraph separators that break lines like one. */
const CONTROL = /[\p{Cc}\u2028\u2029]/u;
const LINE_BREAKS_AND_TABS = /[\n\r\t]/gu;
/** A high surrogate without its low half, or a low one without its high half (not text; stored as U+FFFD). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * The trimmed text, or INVALID_ARGUMENT naming the field and what is wrong with it: a control
 * character (line breaks and tabs only in multiline fields), a bidi control, a zero-width
 * character, a broken surrogate pair, or nothing at all where text is required. How long a field
 * may be is its contract's rule (weelo.common.v1.text_max_len, same reason TEXT_LENGTH), checked
 * on every request before a handler runs; it is not repeated here.
 */
export function plainText(value: string, field: string, options: PlainTextOptions = {}): string {
  const text = value.trim();
  const refuse = (what: string, reason: Reason) => new InvalidArgumentError(field, `${field} ${what}`, { reason });
  if (LONE_SURROGATE.test(text)) throw refuse("is not valid Unicode text (a broken surrogate pair)", "TEXT_MALFORMED");
  const checked = options.multiline ? text.replace(LINE_BREAKS_AND_TABS, " ") : text;
  const offending = (pattern: RegExp) => {
    const found = pattern.exec(checked);
    if (!found) return undefined;
    const codePoint = found[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
    return `U+${codePoint} at character ${[...checked.slice(0, found.index)].length + 1}`;
  };
  const control = offending(CONTROL);
  if (control) {
    throw refuse(
      `must not contain control characters${options.multiline ? " other than line breaks and tabs" : " or line breaks"} (${control})`,
      "TEXT_CONTROL_CHARACTER",
    );
  }
  const hidden = offending(BIDI) ?? offending(ZERO_WIDTH);
  if (hidden)
    throw refuse(
      `must not contain invisible direction or zero-width characters (${hidden})`,
      "TEXT_INVISIBLE_CHARACTER",
    );
  if (options.required && text === "") throw refuse("must not be blank", "TEXT_LENGTH");
  return text;
}
