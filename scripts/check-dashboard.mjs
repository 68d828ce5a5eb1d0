#!/usr/bin/env node
// CI check of deploy/grafana/weelo-dashboard.json: valid dashboard JSON (unique panel ids,
// panels inside the 24-column grid, a data source on every query), and every metric a query
// reads exists in the code (a weelo_* metric registered in libs/, services/ or gateway/, or one
// of prom-client's default nodejs_*/process_* metrics), grouped and filtered only by labels
// that metric has. A panel may read a metric not written yet only when its description starts
// with "PLANNED:" (the panel then says who will add it).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { filesUnder, report, root } from "./check-lib.mjs";

const problems = [];
// An argument (for tests): another dashboard file to check against this build.
const dashboard = JSON.parse(
  readFileSync(process.argv[2] ?? join(root, "deploy/grafana/weelo-dashboard.json"), "utf8"),
);

// ---- the metrics the code registers, with their label names
const known = new Map(); // name → Set(labels) | null (labels unknown: defaults)
for (const dir of ["libs", "services", "gateway"]) {
  for (const file of filesUnder(dir)) {
    if (!file.endsWith(".ts") || file.endsWith(".test.ts") || file.includes("node_modules") || file.includes("/gen/"))
      continue;
    const text = readFileSync(join(root, file), "utf8");
    for (const match of text.matchAll(/name:\s*"(weelo_[a-z0-9_]+)"/g)) {
      // The metric's own options: up to the next metric's name.
      const rest = text.slice(match.index + match[0].length, match.index + 600);
      const next = rest.search(/name:\s*"/);
      const labels = /labelNames:\s*\[([^\]]*)\]/.exec(next === -1 ? rest : rest.slice(0, next));
      const set = known.get(match[1]) ?? new Set();
      for (const label of labels ? labels[1].matchAll(/"([a-z_]+)"/g) : []) set.add(label[1]);
      known.set(match[1], set);
    }
  }
}
const promDir = join(root, "node_modules/prom-client/lib/metrics");
for (const file of readdirSync(promDir).filter((f) => f.endsWith(".js"))) {
  for (const match of readFileSync(join(promDir, file), "utf8").matchAll(/'((?:nodejs|process)_[a-z0-9_]+)'/g))
    known.set(match[1], null);
}

// ---- the dashboard
const ids = new Set();
const panels = (dashboard.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
if (!dashboard.uid || !dashboard.title) problems.push("dashboard: uid and title are required");
if (!(dashboard.templating?.list ?? []).some((v) => v.type === "datasource"))
  problems.push("dashboard: no data source variable");
let queries = 0;
for (const panel of panels) {
  const where = `panel ${panel.id} "${panel.title}"`;
  if (ids.has(panel.id)) problems.push(`${where}: duplicate id`);
  ids.add(panel.id);
  const { x = 0, w = 0, h = 0 } = panel.gridPos ?? {};
  if (!panel.gridPos || x < 0 || w <= 0 || h <= 0 || x + w > 24)
    problems.push(`${where}: gridPos outside the 24-column grid`);
  if (panel.type === "row") continue;
  const planned = String(panel.description ?? "").startsWith("PLANNED:");
  if (!panel.targets?.length) problems.push(`${where}: no queries`);
  for (const target of panel.targets ?? []) {
    queries++;
    if (!target.datasource?.uid && !panel.datasource?.uid)
      problems.push(`${where}: query ${target.refId} has no data source`);
    const expr = String(target.expr ?? "");
    if (!expr) problems.push(`${where}: query ${target.refId} is empty`);
    if ((expr.match(/\(/g) ?? []).length !== (expr.match(/\)/g) ?? []).length)
      problems.push(`${where}: unbalanced parentheses in ${expr}`);
    const metrics = [...expr.matchAll(/\b((?:weelo|nodejs|process)_[a-z0-9_]+)\b/g)].map((m) => m[1]);
    const labels = new Set();
    for (const metric of metrics) {
      const base = known.has(metric) ? metric : metric.replace(/_(bucket|count|sum)$/, "");
      if (!known.has(base)) {
        if (!planned) problems.push(`${where}: ${metric} is not a metric the code registers`);
        continue;
      }
      for (const label of known.get(base) ?? []) labels.add(label);
      if (known.get(base) === null) labels.add("*");
    }
    if (planned || labels.has("*")) continue;
    const used = [
      ...[...expr.matchAll(/\bby\s*\(([^)]*)\)/g)].flatMap((m) => m[1].split(",").map((s) => s.trim())),
      ...[...expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) =>
        [...m[1].matchAll(/([a-z_]+)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]),
      ),
    ].filter(Boolean);
    for (const label of used) {
      if (!labels.has(label) && !["job", "instance", "le"].includes(label))
        problems.push(`${where}: label "${label}" is not a label of ${metrics.join(", ")}`);
    }
  }
}

report("check-dashboard", problems, `${panels.length} panels, ${queries} queries, ${known.size} metrics known`);
