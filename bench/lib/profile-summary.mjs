#!/usr/bin/env node
// Prints where a V8 CPU profile (.cpuprofile) spent its time: the top functions by self time,
// and the top files (node_modules packages collapsed) by self time. Usage:
//   node bench/lib/profile-summary.mjs <file.cpuprofile> [top=25] [--busiest=<seconds> | --window=<from>-<to>] [--buckets]
// --buckets adds self time grouped by kind of work (crypto/TLS, HTTP/2, gRPC, protobuf,
// validation, auth/JWT, logging, metrics and tracing, kysely/pg, Redis, NATS, GC, ...): the
// "where the time goes" tables of bench/README.md.
// --busiest=S keeps only the busy (non-idle) samples of the S seconds with the most of them: for a
// server that started (imports, migrations) and idled in the same profile, that is its load window.
import { readFileSync } from "node:fs";

const args = process.argv.slice(2);
const busiestArg = args.find((arg) => arg.startsWith("--busiest="));
const bucketsWanted = args.includes("--buckets");
// --window=FROM-TO: only the busy samples between FROM and TO seconds after the profile started.
const windowArg = args.find((arg) => arg.startsWith("--window="));
const [file, topArg] = args.filter((arg) => !arg.startsWith("--"));
if (!file) {
  console.error("usage: node bench/lib/profile-summary.mjs <file.cpuprofile> [top] [--busiest=<seconds>]");
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, "utf8"));
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
let kept = profile.samples;
let windowNote = "";
if (busiestArg) {
  const windowUs = Number(busiestArg.slice("--busiest=".length)) * 1e6;
  let at = profile.startTime;
  const busy = [];
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i];
    if (byId.get(id).callFrame.functionName !== "(idle)") busy.push([at, id]);
  });
  let best = [0, 0];
  for (let end = 0, start = 0; end < busy.length; end++) {
    while (busy[end][0] - busy[start][0] > windowUs) start++;
    if (end - start + 1 > best[1]) best = [start, end - start + 1];
  }
  kept = busy.slice(best[0], best[0] + best[1]).map(([, id]) => id);
  windowNote = ` (busy samples of its busiest ${windowUs / 1e6} s; percentages of those)`;
}
if (windowArg) {
  const [fromS, toS] = windowArg.slice("--window=".length).split("-").map(Number);
  let at = profile.startTime;
  const inWindow = [];
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i];
    const s = (at - profile.startTime) / 1e6;
    if (s >= fromS && s <= toS && byId.get(id).callFrame.functionName !== "(idle)") inWindow.push(id);
  });
  kept = inWindow;
  windowNote = ` (busy samples from ${fromS} s to ${toS} s; percentages of those)`;
}
const selfSamples = new Map();
for (const id of kept) selfSamples.set(id, (selfSamples.get(id) ?? 0) + 1);
const total = kept.length;

const where = (frame) => {
  const url = frame.url || "(native)";
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split("/");
    return rest[0].startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  return url.replace(/^file:\/\/.*?\/(libs|services|gateway|bench)\//, "$1/");
};

const functions = new Map();
const files = new Map();
for (const [id, count] of selfSamples) {
  const frame = byId.get(id).callFrame;
  const name = `${frame.functionName || "(anonymous)"}  ${where(frame)}:${frame.lineNumber + 1}`;
  functions.set(name, (functions.get(name) ?? 0) + count);
  const place = where(frame);
  files.set(place, (files.get(place) ?? 0) + count);
}
const print = (title, map) => {
  console.log(`\n${title}`);
  for (const [name, count] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * count) / total).toFixed(1).padStart(5)}%  ${name}`);
  }
};
console.log(`${file}: ${total} samples${windowNote}`);
print("self time by function", functions);
print("self time by file / package", files);

// Kinds of work, first match wins: [bucket, test on "<file or package>  <function>"].
const BUCKETS = [
  ["GC", /\(garbage collector\)/],
  ["idle", /\(idle\)/],
  ["crypto/TLS", /node:(internal\/)?(tls|crypto|_tls)|_tls_|getPeerCertificate|\bjose\b|internal\/crypto/],
  ["auth/JWT", /libs\/auth\//],
  ["HTTP/2", /node:(internal\/)?http2|internal\/http2/],
  ["gRPC (grpc-js)", /@grpc\/grpc-js/],
  ["Connect (connect-node)", /@connectrpc\//],
  ["validation (protovalidate, CEL)", /@bufbuild\/(protovalidate|cel|re2)|libs\/validate\//],
  ["protobuf encode/decode", /@bufbuild\/protobuf|protobufjs|libs\/contracts\/|long\b/],
  ["logging (pino)", /\bpino|sonic-boom|libs\/log\//],
  ["metrics and tracing", /prom-client|@opentelemetry|libs\/(metrics|telemetry)\//],
  ["kysely/pg", /\bkysely\b|\bpg\b|pg-protocol|pg-pool|libs\/db\/|pglite/],
  ["Redis", /ioredis|libs\/cache\//],
  ["NATS", /\bnats\b|libs\/(bus|outbox)\//],
  ["HTTP/1 (node:http)", /node:(internal\/)?(_http|http)\b|_http_/],
  [
    "sockets and streams",
    /node:(internal\/)?(net|stream|streams)|internal\/streams|\bwritev\b|\bwriteBuffer\b|\bwritevGeneric\b/,
  ],
  [
    "events, abort signals, timers, async hooks",
    /abort_controller|domexception|node:events|event_target|task_queues|async_hooks|node:(internal\/)?timers/,
  ],
  ["gateway code", /^gateway\//],
  ["services' code", /^services\//],
  ["other libs", /^libs\//],
  ["native / (program)", /\(program\)|\(native\)/],
];
if (bucketsWanted) {
  const buckets = new Map();
  for (const [id, count] of selfSamples) {
    const frame = byId.get(id).callFrame;
    const key = `${where(frame)}  ${frame.functionName}`;
    const bucket = BUCKETS.find(([, test]) => test.test(key))?.[0] ?? "other (node internals, anonymous)";
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + count);
  }
  print("self time by kind of work", buckets);
}
