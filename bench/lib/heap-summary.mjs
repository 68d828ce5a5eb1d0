#!/usr/bin/env node
// Prints what a V8 sampling heap profile (.heapprofile, e.g. BENCH_HEAP_SURVIVORS') allocated:
// the bytes by package (node_modules collapsed; Node's own modules by area; our code by file)
// and by allocating function. Functions in an esbuild bundle (dist/) are named by the source
// file esbuild marked above them ("// node_modules/…" comments). Usage:
//   node bench/lib/heap-summary.mjs <file.heapprofile> [top=25]
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error("usage: node bench/lib/heap-summary.mjs <file.heapprofile> [top]");
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, "utf8"));

/** Per bundle file, the lines where esbuild's source markers start. */
const markers = new Map();
function sourceOf(url, line) {
  if (!url) return "(native)";
  if (url.startsWith("node:")) return url;
  const path = url.startsWith("file:") ? fileURLToPath(url) : url;
  if (!/\/dist\//.test(path))
    return path.replace(/.*\/node_modules\//, "").replace(/.*?\/((gateway|libs|services|system|bench)\/)/, "$1");
  if (!markers.has(path)) {
    const found = [];
    try {
      readFileSync(path, "utf8")
        .split("\n")
        .forEach((text, i) => {
          if (/^\/\/ (node_modules|gateway|libs|services|system)\//.test(text)) found.push([i, text.slice(3)]);
        });
    } catch {
      // the build changed since the profile was written: keep the bundle's name
    }
    markers.set(path, found);
  }
  let source = path.replace(/.*\/dist\//, "dist/");
  for (const [at, name] of markers.get(path)) {
    if (at > line) break;
    source = name.replace(/^node_modules\//, "");
  }
  return source;
}

function packageOf(source) {
  if (source === "(native)") return "(V8 and native: Map, Object.assign, Promise, …)";
  if (source.startsWith("node:internal/http2")) return "node: HTTP/2";
  if (/^node:(_http|internal\/http)/.test(source)) return "node: HTTP/1";
  if (source.startsWith("node:internal/streams") || source === "node:stream") return "node: streams";
  if (source.startsWith("node:"))
    return `node: ${
      source
        .slice(5)
        .replace(/^internal\//, "")
        .split("/")[0]
    }`;
  if (/^(gateway|libs|services|system|bench)\//.test(source)) return source;
  const scoped = source.match(/^(@[^/]+\/[^/]+|[^/]+)/);
  return scoped ? scoped[1] : source;
}

const byPackage = new Map();
const byFunction = new Map();
let total = 0;
const add = (map, key, bytes) => map.set(key, (map.get(key) ?? 0) + bytes);
(function walk(node) {
  if (node.selfSize > 0) {
    const source = sourceOf(node.callFrame.url, node.callFrame.lineNumber);
    add(byPackage, packageOf(source), node.selfSize);
    add(byFunction, `${node.callFrame.functionName || "(anonymous)"}  ${source}`, node.selfSize);
    total += node.selfSize;
  }
  for (const child of node.children) walk(child);
})(profile.head);

const print = (title, map) => {
  console.log(`\n${title}`);
  for (const [key, bytes] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(
      `${((100 * bytes) / total).toFixed(1).padStart(5)}%  ${(bytes / 1e6).toFixed(1).padStart(8)} MB  ${key}`,
    );
};
console.log(`${(total / 1e6).toFixed(1)} MB sampled in ${file}`);
print("by package", byPackage);
print("by allocating function", byFunction);
