#!/usr/bin/env node
// Makes the quick start two commands on a fresh clone: `npm start` and `npm test` install the
// locked dependencies first when node_modules is missing. When it is merely older than the
// lock file it only warns: `npm ci` deletes node_modules, which would break any other process
// (a running server, another test run) using this checkout.
import { execSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";

const root = new URL("..", import.meta.url).pathname;
const marker = `${root}node_modules/.package-lock.json`;
const lock = `${root}package-lock.json`;
if (!existsSync(marker)) {
  console.log("installing dependencies (npm ci) ...");
  execSync("npm ci --no-audit --no-fund", { cwd: root, stdio: "inherit" });
} else if (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs + 1000) {
  console.warn(
    "warning: package-lock.json is newer than node_modules: run `npm ci` (or `npm install`) if a dependency changed",
  );
}
