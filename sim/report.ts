/** The simulator's report as a reader sees it: the tables printed after a run. */
import { formatMs, rate, table, type Summary } from "./stats.js";
import type { Report } from "./simulation.js";

/** The readable table of a report. */
export function renderReport(report: Report): string {
  const ms = (s: Summary) => [String(s.count), formatMs(s.p50), formatMs(s.p95), formatMs(s.p99), formatMs(s.max)];
  const pct = (v: number | null) => (v === null ? "–" : `${(v * 100).toFixed(1)}%`);
  const lines: string[] = [];
  lines.push(
    `Weelo city simulation · Pune (${report.city.hubs.join(", ")}) · profile ${report.profile} · seed ${report.seed} · ${report.durationS} s against ${report.url}`,
  );
  lines.push(
    `${report.city.transporters} transporters, ${report.city.trucks} trucks and drivers, ${report.city.customers} customers`,
  );
  lines.push("");
  lines.push(
    table(
      ["from booking to", "n", "p50", "p95", "p99", "max"],
      [
        ["first offer (order)", ...ms(report.timingsMs.firstOffer)],
        ["acceptance", ...ms(report.timingsMs.acceptance)],
        ["assignment", ...ms(report.timingsMs.assignment)],
        ["completion", ...ms(report.timingsMs.completion)],
      ],
    ),
  );
  lines.push("");
  const c = report.counts;
  lines.push(
    table(
      ["bookings", "count", "share"],
      [
        ["created", String(c.bookings), ""],
        [`  in ${c.orders} orders (${c.multiTruckOrders} multi-truck)`, "", ""],
        ["accepted", String(c.accepted), pct(rate(c.accepted!, c.bookings!))],
        ["assigned", String(c.assigned), pct(rate(c.assigned!, c.bookings!))],
        ["completed", String(c.completed), pct(report.rates.completion!)],
        ["cancelled by customer", String(c.cancelledByCustomer), pct(report.rates.customerCancellation!)],
        ["expired (no transporter)", String(c.expired), pct(report.rates.expiry!)],
        ["cancelled otherwise", String(c.cancelledOther), ""],
        ["unfinished", String(c.unfinished), ""],
      ],
    ),
  );
  lines.push("");
  const p = report.points;
  lines.push(
    `location points: sent ${p.sent} · acknowledged ${p.acked} · stored in trip paths ${p.stored} · rejected ${p.rejected} · re-sent after reconnects ${p.resent} · ${p.perSecond}/s`,
  );
  lines.push(
    `streams: driver reconnects ${report.streams.driverReconnects} · watch reconnects ${report.streams.watchReconnects} · offer stream reconnects ${report.streams.offerReconnects}`,
  );
  const ends = Object.entries(report.streams.endedBy);
  if (ends.length > 0)
    lines.push(
      `  streams ended by: ${ends.map(([k, e]) => `${k} ×${e.count} (${e.firstS === e.lastS ? `at ${e.firstS} s` : `${e.firstS}-${e.lastS} s`})`).join("; ")}`,
    );
  const errors = Object.entries(report.calls.errors);
  lines.push(
    `calls: ${report.calls.retries} retried · ${report.calls.tokenRefreshes} token refreshes · ${errors.length === 0 ? "no failed calls" : `failed: ${errors.map(([k, n]) => `${k} ×${n}`).join(", ")}`}`,
  );
  const refusals = Object.entries(report.calls.refusals);
  if (refusals.length > 0)
    lines.push(`refusals (expected answers): ${refusals.map(([k, n]) => `${k} ×${n}`).join(", ")}`);
  if (report.faults.some((f) => f.fullServiceAfterMs !== undefined)) {
    lines.push("");
    lines.push(
      table(
        [
          "fault injected",
          "at",
          "ready",
          "full service",
          "failed attempts",
          "retried calls",
          "gave up",
          "points stall",
          "p99 after (seconds of it)",
        ],
        report.faults.map((f) => [
          f.what + (f.note ? ` (${f.note})` : ""),
          `${f.atS} s`,
          formatMs(f.readyAfterMs),
          formatMs(f.fullServiceAfterMs ?? null),
          String(f.failedAttempts ?? 0),
          String(f.retriedCalls ?? 0),
          String(f.gaveUp ?? 0),
          formatMs(f.pointsStallMs ?? null),
          `${formatMs(f.p99AfterMs ?? null)} (${f.p99WindowS ?? 0} s)`,
        ]),
      ),
    );
  } else if (report.faults.length > 0) {
    lines.push("");
    lines.push(
      table(
        ["fault injected", "at", "down", "ready again", "points flow again"],
        report.faults.map((f) => [
          f.what + (f.note ? ` (${f.note})` : ""),
          `${f.atS} s`,
          formatMs(f.downMs),
          formatMs(f.readyAfterMs),
          formatMs(f.pointsFlowAfterMs),
        ]),
      ),
    );
  }
  lines.push("");
  const checked = report.invariants.checked;
  lines.push(
    `invariants: ${report.invariants.passed ? "all hold" : `${report.invariants.violations.length} VIOLATED`} (${checked.bookingsTerminalOrExplained} bookings terminal or explained, ${checked.ordersAcceptance} orders' acceptances, ${checked.driverAndVehicleOccupations} driver/vehicle occupations, ${checked.ackedTripPoints} acknowledged trip points in ${checked.tripsPoints} paths, ${checked.watchStreams} watch streams)`,
  );
  for (const v of report.invariants.violations.slice(0, 30)) lines.push(`  ✗ [${v.invariant}] ${v.message}`);
  if (report.invariants.violations.length > 30)
    lines.push(`  … and ${report.invariants.violations.length - 30} more (see the JSON report)`);
  if (report.notes.length > 0) {
    lines.push("notes:");
    for (const note of report.notes.slice(0, 20)) lines.push(`  - ${note}`);
    if (report.notes.length > 20) lines.push(`  … and ${report.notes.length - 20} more (see the JSON report)`);
  }
  return lines.join("\n");
}
