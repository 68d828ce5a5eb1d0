#!/usr/bin/env node
// Makes the quick start two commands on a fresh clone: `npm start` and `npm test` install
// the locked dependencies first when node_modules is missing or older than the lock file.
import { execSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";

const root = new URL("..", import.meta.url).pathname;
const marker = `${root}node_modules/.package-lock.json`;
const lock = `${root}package-lock.json`;
const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs + 1000);
if (stale) {
  console.log("installing dependencies (npm ci) ...");
  execSync("npm ci --no-audit --no-fund", { cwd: root, stdio: "inherit" });
}
