#!/usr/bin/env node
// Runs every *.test.ts beside the code with Node's own test runner through tsx.
// Node 20's runner does not expand globs itself, so the files are listed here.
// Extra arguments are passed on (e.g. `npm test -- --test-name-pattern=otp`), and
// arguments that name files or folders narrow the run to them.
// *.browser.test.ts drive a real browser (Chromium): only `--browser` (npm run test:browser)
// runs them, since a fresh clone has no browser; named files run whatever they are.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const roots = ["libs", "services", "gateway", "system", "clients", "console", "bench", "scripts"];

const browser = process.argv.includes("--browser");
const wanted = (name) => name.endsWith(".test.ts") && name.endsWith(".browser.test.ts") === browser;

function findTests(dir, out) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name === "gen" || entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) findTests(path, out);
    else if (wanted(entry.name)) out.push(relative(root, path));
  }
  return out;
}

const passThrough = [];
const narrowTo = [];
for (const arg of process.argv.slice(2)) {
  if (arg === "--browser") continue;
  if (!arg.startsWith("-") && statSafe(join(root, arg))) narrowTo.push(arg);
  else passThrough.push(arg);
}
function statSafe(path) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

const files = (narrowTo.length > 0 ? narrowTo : roots)
  .flatMap((dir) => (statSafe(join(root, dir))?.isDirectory() ? findTests(join(root, dir), []) : [dir]))
  .sort();
if (files.length === 0) {
  console.error("run-tests: no test files found");
  process.exit(1);
}

for (const name of ["DATABASE_URL", "REDIS_URL", "NATS_URL"]) {
  if (!process.env[name]) {
    console.log(`run-tests: ${name} is not set: suites against the real server are SKIPPED (embedded adapters only)`);
  }
}

const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=2", "--test-reporter=spec", ...passThrough, ...files],
  {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, NODE_ENV: process.env.NODE_ENV ?? "test", LOG_LEVEL: process.env.LOG_LEVEL ?? "silent" },
  },
);
process.exit(result.status ?? 1);
