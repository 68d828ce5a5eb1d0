/**
 * Scenario registry: every `bench/scenarios/*.ts` file is a scenario, except
 * files whose name starts with `_` (helpers like this one) and `*.d.ts` /
 * `*.test.ts`. Adding a scenario = adding a file; nothing to register by hand.
 *
 * A scenario file exports the Scenario either as its default export
 * (`export default { ... } satisfies Scenario`) or as named exports
 * (`export const name = ...; export async function start() {...}`).
 */
import { readdirSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { MeasureScenario, Scenario } from "../lib/scenario.js";

const DIR = fileURLToPath(new URL("./", import.meta.url));

function isMeasureScenario(value: unknown): value is MeasureScenario {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.name === "string" && v.name !== "" && typeof v.measure === "function" && v.start === undefined;
}

function isScenario(value: unknown): value is Scenario {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  if (typeof v.name !== "string" || v.name === "" || typeof v.start !== "function") return false;
  if (v.target !== undefined) {
    const t = v.target as Record<string, unknown> | null;
    if (typeof t !== "object" || t === null) return false;
    const againstEcho = typeof t.vsConnectEcho === "number";
    const againstScenario = typeof t.vs === "string" && typeof t.ratio === "number";
    if (!againstEcho && !againstScenario) return false;
  }
  return true;
}

/** Any scenario: an HTTP request repeated by autocannon, or a measure scenario that reports its own figures. */
export type AnyScenario = Scenario | MeasureScenario;

export function isMeasure(scenario: AnyScenario): scenario is MeasureScenario {
  return "measure" in scenario;
}

export async function loadScenarios(): Promise<AnyScenario[]> {
  const files = readdirSync(DIR)
    .filter((f) => /\.(ts|js|mjs)$/.test(f) && !f.startsWith("_") && !/\.(d|test)\.ts$/.test(f))
    .sort();
  const scenarios: AnyScenario[] = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    const mod = (await import(pathToFileURL(DIR + file).href)) as Record<string, unknown>;
    const candidate: AnyScenario | null =
      isScenario(mod.default) || isMeasureScenario(mod.default)
        ? mod.default
        : isScenario(mod) || isMeasureScenario(mod)
          ? (mod as unknown as AnyScenario)
          : null;
    if (!candidate) {
      throw new Error(
        `bench/scenarios/${file} does not export a scenario ({ name, target?: { vsConnectEcho } | { vs, ratio }, start() }, or { name, measure() }) as default or as named exports`,
      );
    }
    const other = seen.get(candidate.name);
    if (other) throw new Error(`bench: scenario name "${candidate.name}" is used by both ${other} and ${file}`);
    seen.set(candidate.name, file);
    scenarios.push(candidate);
  }
  return scenarios;
}

/**
 * BENCH_ONLY=name[,name...] keeps the scenarios whose name equals one of the
 * entries (or matches it as a `*` glob), plus the scenarios those are judged against
 * (`target.vs`). BENCH_ONLY=none keeps none. Baselines always run: ratios need them.
 */
export function selectScenarios(all: AnyScenario[], only: string | undefined): AnyScenario[] {
  if (only === undefined || only.trim() === "") return all;
  if (only.trim() === "none") return [];
  const patterns = only
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((p) => new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`));
  const picked = all.filter((s) => patterns.some((re) => re.test(s.name)));
  if (picked.length === 0) {
    throw new Error(
      `bench: BENCH_ONLY=${only} matches no scenario (known: ${all.map((s) => s.name).join(", ") || "none"})`,
    );
  }
  // A scenario judged against another (`target.vs`) or read beside it (`beside`) needs it in the same run.
  const wanted = new Set(picked.map((s) => s.name));
  for (const s of picked) {
    if (isMeasure(s)) continue;
    if (s.target && "vs" in s.target) wanted.add(s.target.vs);
    for (const other of s.beside ?? []) wanted.add(other);
  }
  return all.filter((s) => wanted.has(s.name));
}
