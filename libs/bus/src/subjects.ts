/**
 * NATS subject rules, implemented once so the in-process bus matches exactly what the server
 * does: tokens separated by '.', `*` matches one token, `>` (last) matches one or more.
 */

/** Throws unless subject is a concrete subject (what one publishes to). */
export function assertPublishSubject(subject: string): void {
  const tokens = split(subject);
  if (tokens.some((t) => t === "*" || t === ">")) throw new Error(`cannot publish to a wildcard subject: "${subject}"`);
}

/** Throws unless subject is a valid subscription filter (wildcards allowed as whole tokens). */
export function assertFilterSubject(subject: string): void {
  const tokens = split(subject);
  tokens.forEach((t, i) => {
    if (t === ">" && i !== tokens.length - 1) throw new Error(`'>' must be the last token: "${subject}"`);
  });
}

function split(subject: string): string[] {
  const tokens = subject.split(".");
  for (const t of tokens) {
    if (t === "" || /\s/.test(t)) throw new Error(`invalid subject: "${subject}"`);
    if (t.length > 1 && (t.includes("*") || t.includes(">")))
      throw new Error(`wildcards must be whole tokens: "${subject}"`);
  }
  return tokens;
}

/** Dedup needs an id: an empty one would silently turn it off on NATS. */
export function assertMsgId(msgId: string): void {
  if (typeof msgId !== "string" || msgId.length === 0) throw new Error("publishEvent needs a msgId (the event id)");
}

/** Whether the concrete subject matches the filter. */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split(".");
  const s = subject.split(".");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === ">") return s.length > i;
    if (i >= s.length) return false;
    if (f[i] !== "*" && f[i] !== s[i]) return false;
  }
  return f.length === s.length;
}

/** Whether some concrete subject matches both filters (streams may not overlap). */
export function filtersOverlap(a: string, b: string): boolean {
  return overlap(a.split("."), b.split("."), 0, 0);
}

function overlap(a: string[], b: string[], i: number, j: number): boolean {
  const x = a[i];
  const y = b[j];
  if (x === undefined || y === undefined) return x === undefined && y === undefined;
  if (x === ">") return true; // b has at least token j left
  if (y === ">") return true;
  if (x !== "*" && y !== "*" && x !== y) return false;
  return overlap(a, b, i + 1, j + 1);
}

/**
 * The metric label of a subject: its first token ("tracking.location.<id>" → "tracking"),
 * or "other" for anything odd, so ids never become label values.
 */
export function subjectFamily(subject: string): string {
  const first = subject.split(".", 1)[0] ?? "";
  return /^[A-Za-z$_][A-Za-z0-9_-]{0,39}$/.test(first) ? first : "other";
}
